"""The long-running processes: `migrate`, `scheduler`, `api`, `worker` and `up`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from scheduler.cli.common import console
from scheduler.config import Settings, load_settings
from scheduler.logs import setup_logging


def _settings_with_logging() -> Settings:
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    return settings


def migrate() -> None:
    """Upgrade the database to the newest schema."""
    from scheduler.store.migrate import upgrade

    settings = load_settings()
    with console.status("migrating"):
        upgrade(settings.database_url)
    print("database is at the newest schema")


def scheduler_cmd(
    metrics_port: Annotated[int | None, typer.Option(help="serve Prometheus metrics here")] = None,
) -> None:
    """Run a scheduler node (one leads, the rest stand by)."""
    import signal

    from scheduler.leader.daemon import Daemon

    settings = _settings_with_logging()
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.api_host)
    daemon = Daemon(settings)
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.request_stop())
    daemon.run_forever()


def up(
    host: Annotated[str | None, typer.Option(help="default TOCSIN_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default TOCSIN_API_PORT")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 4,
) -> None:
    """API + scheduler + workers in one process (SQLite and no services by default)."""
    from scheduler import up as embedded

    # A local sandbox: functions may call local services unless the operator says not.
    os.environ.setdefault("TOCSIN_HTTP_DENY_PRIVATE", "false")
    # Functions call the API back where it really listens (APPWRITE_FUNCTION_API_ENDPOINT
    # is TOCSIN_PUBLIC_URL, else this host and port), not on the default port.
    if port:
        os.environ.setdefault("TOCSIN_API_PORT", str(port))
    if host:
        os.environ.setdefault("TOCSIN_API_HOST", host)
    settings = _settings_with_logging()
    from tasks.runtimes.python import sandbox_from_settings

    sandbox_from_settings()  # bwrap mode without a sandbox: one line, exit non-zero
    embedded.run(settings, host or settings.api_host, port or settings.api_port, workers)


def api_cmd(
    host: Annotated[str | None, typer.Option(help="default TOCSIN_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default TOCSIN_API_PORT")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64,
                                         help="API processes on this port (one per core)")] = 1,
) -> None:
    """Serve the Appwrite-compatible API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from scheduler.api.app import create_app
    from scheduler.api.server import serve_processes, uvicorn_config

    settings = _settings_with_logging()
    host, port = host or settings.api_host, port or settings.api_port
    print(f"Tocsin API: http://{host}:{port}/v1  console: http://{host}:{port}/console",
          flush=True)
    if workers > 1:
        serve_processes(settings, host, port, workers)
        return
    app = create_app(settings, settle_heap=True)
    uvicorn.Server(uvicorn_config(app, settings, host, port)).run()


def worker_cmd(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 2,
) -> None:
    """Run a Celery worker for executions (extra options go to celery)."""
    settings = _settings_with_logging()
    from tasks.app import app as celery_app
    from tasks.runtimes.python import sandbox_from_settings

    # TOCSIN_RUNNER_SANDBOX=bwrap and no working sandbox: one line, exit non-zero;
    # auto: one warning now, runners unconfined.
    sandbox_from_settings()

    celery_app.worker_main([
        "worker", "-Q", "tocsin", "-c", str(concurrency), "--loglevel", settings.log_level,
        "--without-gossip", "--without-mingle", *ctx.args,
    ])


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    app.command("scheduler")(scheduler_cmd)
    app.command()(up)
    app.command("api")(api_cmd)
    app.command("worker", context_settings={"allow_extra_args": True,
                                            "ignore_unknown_options": True})(worker_cmd)
