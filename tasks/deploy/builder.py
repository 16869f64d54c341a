"""The builder: a thread in each worker process (and in ``tocsin up``) that builds
uploaded deployments, one at a time.

It polls PostgreSQL (or SQLite) for a deployment to build, every ``POLL`` seconds
and at once after one is built: no message to lose, and a build whose worker died
is taken again once its lease runs out (``store.deployments``). Builds are rare
and long (seconds to minutes), so a second's wait before one starts costs nothing.
While a build runs, a heartbeat renews its lease every third of it
(``TOCSIN_BUILD_LEASE``); a renewal that finds the claim gone (the build was
canceled, or another builder took it over) kills the build's commands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from scheduler.config import Settings
from scheduler.logs import first_line, get_logger
from scheduler.rules.deployments import CHUNK_SIZE, Kind, heartbeat_every
from scheduler.rules.ids import new_id
from scheduler.store import deployments as store
from scheduler.store.db import through_outage, transaction
from scheduler.store.deployment_models import Deployment
from tasks.deploy.build import Built, build
from tasks.runner import sandbox as sandboxes

log = get_logger(__name__)

POLL = 1.0  # seconds between looks for a deployment to build
RECORD_RETRIES = (0.5, 1, 2, 4)  # seconds between tries to record a finished build


class Builder:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 sandbox: Callable[[], sandboxes.Sandbox | None]) -> None:
        self.sessions = sessions
        self.timeout = float(settings.build_timeout)
        self.lease = float(settings.build_lease)
        self._sandbox = sandbox
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="tocsin-builder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                built = self.build_one()
            except Exception as exc:  # the database is away: look again later
                log.warning("build.loop_failed", error=first_line(exc))
                built = False
            if not built:
                self._stop.wait(POLL)

    def build_one(self) -> bool:
        """Claim one deployment and build it; False when there was none to build."""
        token = new_id()
        with transaction(self.sessions) as session:
            d = store.claim_build(session, self.lease, token)
            if d is None:
                return False
            project_id, deployment_id, commands = d.project_id, d.id, d.commands
            source = store.bytes_of(session, d, Kind.SOURCE)
        log.info("build.started", project_id=project_id, deployment_id=deployment_id)
        with transaction(self.sessions) as session:
            if not store.building(session, project_id, deployment_id, token):
                return True  # canceled since it was claimed
        stop, done = threading.Event(), threading.Event()
        beat = threading.Thread(target=self._heartbeat, name="tocsin-build-heartbeat",
                                args=(project_id, deployment_id, token, stop, done),
                                daemon=True)
        beat.start()
        try:
            built = build(source, commands, self.timeout, self._sandbox(), stop)
        finally:
            done.set()
            beat.join()
        recorded = self._record(project_id, deployment_id, token, built)
        log.info("build.finished", project_id=project_id, deployment_id=deployment_id,
                 ok=built.ok, duration=round(built.duration, 2), recorded=recorded is not None)
        return True

    def _record(self, project_id: str, deployment_id: str, token: str, built: Built
                ) -> Deployment | None:
        """Record the build, through a short database outage (a build can take minutes
        to redo); past ``RECORD_RETRIES`` the lease lapses and another builder redoes it."""
        def attempt() -> Deployment | None:
            with transaction(self.sessions) as session:
                return store.finish_build(session, project_id, deployment_id, token,
                                          built.logs, built.duration, built.artifact,
                                          CHUNK_SIZE)

        return through_outage(attempt, RECORD_RETRIES, lambda pause, exc: log.warning(
            "build.record_retry", deployment_id=deployment_id, retry_in=pause,
            error=first_line(exc)))

    def _heartbeat(self, project_id: str, deployment_id: str, token: str,
                   stop: threading.Event, done: threading.Event) -> None:
        """Renew the build's lease while it runs; a build canceled or taken over (the
        renewal finds the claim gone) is stopped."""
        while not done.wait(heartbeat_every(self.lease)):
            try:
                with transaction(self.sessions) as session:
                    held = store.renew(session, project_id, deployment_id, token, self.lease)
            except Exception as exc:  # the database is away: the lease may run out
                log.warning("build.heartbeat_failed", deployment_id=deployment_id,
                            error=first_line(exc))
                continue
            if not held:
                log.info("build.stopped", project_id=project_id, deployment_id=deployment_id)
                stop.set()
                return


def start_in_process(settings: Settings) -> Builder:
    """This process's builder, on its own connections (a Celery worker's main process,
    or ``tocsin up``)."""
    from scheduler.store.db import make_engine, make_sessionmaker
    from tasks.runtimes.python import sandbox_from_settings

    sessions = make_sessionmaker(make_engine(settings.database_url,
                                             application_name="tocsin-builder"))
    builder = Builder(sessions, settings, sandbox_from_settings)
    builder.start()
    return builder
