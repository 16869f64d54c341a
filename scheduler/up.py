"""`tocsin up`: API, scheduler and workers in one process.

With the defaults (SQLite file, ``memory://`` broker) it needs no services:
executions go through an in-process queue to worker threads. Pointed at
PostgreSQL and Redis, it runs the same roles against them, with a Celery
worker as a child process. This module is the composition root, so it is the
one place in ``scheduler`` that reaches into ``tasks``.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from scheduler.config import Settings
from scheduler.logs import get_logger
from scheduler.store.db import make_engine, make_sessionmaker, transaction
from scheduler.store.migrate import upgrade
from scheduler.store.projects import SCOPES, add_key, ensure_project, has_keys, new_secret

log = get_logger(__name__)
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class FirstStart:
    project: str
    key: str | None  # only on the start that created it


def ensure_access(settings: Settings) -> FirstStart:
    """A project and a key to call the API with; the key is shown once."""
    if settings.bootstrap_project:
        return FirstStart(settings.bootstrap_project, None)
    engine = make_engine(settings.database_url)
    try:
        with transaction(make_sessionmaker(engine)) as session:
            ensure_project(session, DEFAULT_PROJECT)
            if has_keys(session, DEFAULT_PROJECT):
                return FirstStart(DEFAULT_PROJECT, None)
            secret = new_secret()
            add_key(session, DEFAULT_PROJECT, secret, list(SCOPES), name="first start")
            return FirstStart(DEFAULT_PROJECT, secret)
    finally:
        engine.dispose()


def run(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from scheduler.api.app import create_app
    from scheduler.api.server import uvicorn_config
    from scheduler.broker.publish import Publisher, make_publisher
    from scheduler.leader.daemon import Daemon

    upgrade(settings.database_url)
    access = ensure_access(settings)
    child: subprocess.Popen[bytes] | None = None
    publisher: Publisher
    if settings.broker_url.startswith("memory://"):
        from tasks.deploy.builder import start_in_process
        from tasks.embedded import EmbeddedBroker

        broker = EmbeddedBroker(workers)
        broker.start()
        publisher = broker
        start_in_process(settings)  # a Celery worker starts its own
    else:
        publisher = make_publisher(settings.broker_url)
        child = subprocess.Popen([sys.executable, "-m", "celery", "-A", "tasks.app", "worker",
                                  "-Q", "tocsin", "-c", str(workers), "--without-gossip",
                                  "--without-mingle", "--loglevel", settings.log_level])
    daemon = Daemon(settings, publisher=publisher)
    daemon.start()
    app = create_app(settings, publisher=publisher, settle_heap=True)
    print(f"Tocsin is up: http://{host}:{port}/v1  (docs: http://{host}:{port}/docs)",
          flush=True)
    print(f"console: http://{host}:{port}/console", flush=True)
    print(f"project: {access.project}", flush=True)
    if access.key:
        print(f"key: {access.key}   (shown once; stored only as a hash)", flush=True)
    try:
        uvicorn.Server(uvicorn_config(app, settings, host, port)).run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it already handled; shutdown is clean
    finally:
        daemon.stop()
        if child is not None:
            child.terminate()
            child.wait(30)
        log.info("up.stopped")
