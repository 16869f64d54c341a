"""`tocsin` commands. Every failure ends as one readable line and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Annotated, NoReturn

import pendulum
import typer
from rich.console import Console
from rich.table import Table

from scheduler import jobtable, timerules
from scheduler.config import ConfigError, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Tocsin scheduler.")
cron_app = typer.Typer(no_args_is_help=True, help="Cron expressions.")
app.add_typer(cron_app, name="cron")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
app.add_typer(keys_app, name="keys")
app.add_typer(jobtable.jobs_app, name="jobs")
app.command("executions")(jobtable.executions_cmd)
console = Console()


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def parse_instant(value: str, option: str) -> datetime:
    try:
        parsed = pendulum.parse(value, tz="UTC")
    except Exception:
        fail(f"{option} '{value}' is not an ISO 8601 time (e.g. 2026-03-28T12:00:00+01:00)", 2)
    if not isinstance(parsed, datetime):
        fail(f"{option} '{value}' is not a date and time", 2)
    return datetime.fromtimestamp(parsed.timestamp(), UTC)


@app.command()
def migrate() -> None:
    """Upgrade the database to the newest schema."""
    from scheduler.store.migrate import upgrade

    settings = load_settings()
    with console.status("migrating"):
        upgrade(settings.database_url)
    print("database is at the newest schema")


@app.command("scheduler")
def scheduler_cmd(
    metrics_port: Annotated[int | None, typer.Option(help="serve Prometheus metrics here")] = None,
) -> None:
    """Run a scheduler node (one leads, the rest stand by)."""
    import signal

    from scheduler.daemon import Daemon
    from scheduler.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=settings.api_host)
    daemon = Daemon(settings)
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop())
    signal.signal(signal.SIGINT, lambda *_: daemon.request_stop())
    daemon.run_forever()


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="default TOCSIN_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default TOCSIN_API_PORT")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 4,
) -> None:
    """API + scheduler + workers in one process (SQLite and no services by default)."""
    from scheduler import up as embedded
    from scheduler.logs import setup_logging

    # A local sandbox: functions may call local services unless the operator says not.
    os.environ.setdefault("TOCSIN_HTTP_DENY_PRIVATE", "false")
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    embedded.run(settings, host or settings.api_host, port or settings.api_port, workers)


@app.command("api")
def api_cmd(
    host: Annotated[str | None, typer.Option(help="default TOCSIN_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default TOCSIN_API_PORT")] = None,
) -> None:
    """Serve the Appwrite-compatible API (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from scheduler.api.app import create_app
    from scheduler.api.server import uvicorn_config
    from scheduler.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    uvicorn.Server(uvicorn_config(create_app(settings), settings, host or settings.api_host,
                                  port or settings.api_port)).run()


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="project id (created if missing)")],
    scope: Annotated[list[str] | None, typer.Option(help="repeat; default all scopes")] = None,
    name: Annotated[str, typer.Option()] = "key",
    expires_in_days: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from datetime import timedelta

    from scheduler.store.db import make_engine, make_sessionmaker, transaction
    from scheduler.store.projects import SCOPES, add_key, ensure_project, new_secret

    scopes = scope or list(SCOPES)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        fail(f"unknown scope(s) {', '.join(unknown)}; allowed: {', '.join(SCOPES)}", 2)
    settings = load_settings()
    secret = new_secret()
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            ensure_project(session, project)
            add_key(session, project, secret, scopes, name=name, expires_at=expires)
    except Exception as exc:
        fail(f"cannot write the key: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    print(secret)


@app.command("worker", context_settings={"allow_extra_args": True,
                                         "ignore_unknown_options": True})
def worker_cmd(
    ctx: typer.Context,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1)] = 2,
) -> None:
    """Run a Celery worker for executions (extra options go to celery)."""
    from scheduler.logs import setup_logging

    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    from tasks.app import app as celery_app

    celery_app.worker_main([
        "worker", "-Q", "tocsin", "-c", str(concurrency), "--loglevel", settings.log_level,
        "--without-gossip", "--without-mingle", *ctx.args,
    ])


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Current leader, epoch, lease expiry, standbys, last dispatch and backlog."""
    from scheduler.store.db import make_engine, make_sessionmaker, transaction
    from scheduler.store.leases import status as read_status

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            info = read_status(session, node_window=settings.lease_ttl * 3)
    except Exception as exc:
        fail(f"cannot read the job store: {str(exc).splitlines()[0]}")
    finally:
        engine.dispose()
    lag, last = info.last_dispatch_lag_ms, info.last_dispatch_at
    view = {
        "leader": info.leader, "epoch": info.epoch,
        "lease_expires_at": timerules.iso(info.lease_expires_at),
        "standbys": info.standbys,
        "last_dispatch_at": timerules.iso(last),
        "seconds_since_dispatch": round((info.now - last).total_seconds(), 3) if last else None,
        "dispatch_lag_ms": round(lag, 1) if lag is not None else None,
        "unpublished_backlog": info.unpublished_backlog,
    }
    if as_json:
        print(json.dumps(view))
        return
    table = Table(show_header=False, title="tocsin scheduler")
    for key, value in view.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)


@cron_app.command("check")
def cron_check(
    expression: str,
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone")] = "UTC",
    after: Annotated[str | None, typer.Option(help="ISO 8601 start (default now)")] = None,
    count: Annotated[int, typer.Option(min=1, max=1000)] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate EXPRESSION and show its next fire times."""
    try:
        cron = timerules.parse_cron(expression)
        zone = timerules.validate_timezone(tz)
    except timerules.CronError as exc:
        if as_json:
            print(json.dumps({"valid": False, "error": str(exc)}))
            raise typer.Exit(2) from None
        fail(str(exc), 2)
    start = parse_instant(after, "--after") if after else datetime.now(UTC)
    fires = timerules.next_fires(cron, zone, start, count)
    rows = [{"local": f.astimezone(zone).isoformat(), "utc": timerules.iso(f)} for f in fires]
    if as_json:
        print(json.dumps({"valid": True, "expression": cron.expression, "timezone": tz,
                          "fires": rows}))
        return
    table = Table(title=f"{cron.expression}  ({tz})")
    table.add_column("local")
    table.add_column("UTC")
    for row in rows:
        table.add_row(row["local"], row["utc"])
    console.print(table)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except jobtable.CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
