"""The scheduler process: an APScheduler 3 scheduler whose jobs are the leader's duties.

Jobs: ``lease`` (campaign/renew + node heartbeat, every TTL/3), ``dispatch``
(armed for the earliest due time, re-polled every ``poll_interval`` as a
safety net, woken by PostgreSQL NOTIFY), ``relay`` (outbox), ``reap`` (lost
workers) and ``prune`` (retention). Every process runs the lease job; only
the leader does the rest.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from scheduler import gcfreeze, metrics
from scheduler.broker.publish import Publisher, make_publisher
from scheduler.config import Settings
from scheduler.leader.backfiller import Backfiller
from scheduler.leader.dispatcher import Dispatcher
from scheduler.leader.fanout import EventFanOut
from scheduler.leader.lease import LeaseKeeper
from scheduler.logs import first_line, get_logger
from scheduler.rules.deployments import ABANDONED_AFTER
from scheduler.rules.errors import FencedOut
from scheduler.store import deployments as deployment_store
from scheduler.store import events as event_store
from scheduler.store import executions as exec_store
from scheduler.store import fires as fire_store
from scheduler.store import leases as lease_store
from scheduler.store import projects as project_store
from scheduler.store.db import db_now, make_engine, make_sessionmaker, transaction
from scheduler.store.dialect import capabilities
from scheduler.store.schedules import add_local_listener, listen_wakeups

log = get_logger(__name__)

RELAY_SETTLE = 3.0  # seconds a fresh row is left to whoever created it to publish
LOCKED_BACKOFF = 0.5  # seconds between tries while due rows are locked by someone else
BACKFILL_PACE = 0.25  # seconds between backfill steps (at most 2,000 fires a second)


def node_name(settings: Settings) -> str:
    """This process's holder name: unique even where every container's pid is 1 or two
    nodes were given one name (two holders with one name would share an epoch)."""
    base = settings.node_name or f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}#{secrets.token_hex(3)}"


def _leader_job(event: str) -> Callable[[Callable[[Daemon], None]], Callable[[Daemon], None]]:
    """A periodic job only the leader runs. A failure is logged as ``<event>.error`` and
    retried at the job's next interval: one bad run must not stop the scheduler."""

    def wrap(job: Callable[[Daemon], None]) -> Callable[[Daemon], None]:
        @functools.wraps(job)
        def run(self: Daemon) -> None:
            if not self.keeper.leading:
                return
            try:
                job(self)
            except Exception as exc:
                log.warning(f"{event}.error", error=first_line(exc))

        return run

    return wrap


class Daemon:
    def __init__(self, settings: Settings, publisher: Publisher | None = None,
                 engine: Engine | None = None) -> None:
        self.settings = settings
        self.node = node_name(settings)
        self.engine = engine or make_engine(settings.database_url,
                                            application_name=lease_store.session_tag(self.node))
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.publisher = publisher or make_publisher(settings.broker_url)
        self.keeper = LeaseKeeper(self.sessions, self.node, settings.lease_ttl)
        self.dispatcher = Dispatcher(
            self.sessions, self.publisher, self.node, settings.dispatch_batch,
            settings.lease_ttl,
            lanes=settings.dispatch_lanes if capabilities(self.engine).row_locks else 1,
            window=settings.project_window)
        self.fanout = EventFanOut(self.dispatcher, settings.event_max_depth)
        self.backfiller = Backfiller(self.dispatcher, settings.backfill_step)
        self.started_at = datetime.now(UTC)
        self._stop = threading.Event()
        # Held while re-arming the dispatch job, and by stop() while it sets _stop: see
        # _rearm for the deadlock it prevents.
        self._arm_lock = threading.Lock()
        self._wake_pending = threading.Event()
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        s = self.settings
        now = datetime.now(UTC)
        # Standbys campaign at least every second so a takeover lands within TTL + 1 s.
        self.scheduler.add_job(self.lease_tick, "interval", seconds=min(s.lease_ttl / 4, 1.0),
                               id="lease", next_run_time=now)
        self.scheduler.add_job(self.dispatch_tick, "interval", seconds=s.poll_interval,
                               id="dispatch", next_run_time=now)
        self.scheduler.add_job(self.relay_tick, "interval", seconds=2, id="relay")
        # One backfill step (500 fires) per tick, in its own job: paced, and never
        # inside a dispatch drain.
        self.scheduler.add_job(self.backfill_tick, "interval", seconds=BACKFILL_PACE,
                               id="backfill")
        self.scheduler.add_job(self.reap_tick, "interval", seconds=min(5.0, s.lease_ttl),
                               id="reap")
        self.scheduler.add_job(self.prune_tick, "interval", hours=1, id="prune")
        self.scheduler.start()
        if capabilities(self.engine).notify:
            threading.Thread(target=self._listen, name="tocsin-listen", daemon=True).start()
        else:
            add_local_listener(self._on_notify)
        log.info("scheduler.started", node=self.node, ttl=s.lease_ttl)

    def stop(self) -> None:
        with self._arm_lock:  # no re-arm starts after this; one under way has ended
            self._stop.set()
        self.scheduler.shutdown(wait=True)
        self.keeper.step_down()
        self.publisher.close()
        log.info("scheduler.stopped", node=self.node)

    def request_stop(self) -> None:
        """Safe from a signal handler: run_forever notices and shuts down cleanly."""
        self._stop.set()

    def run_forever(self) -> None:
        self.start()
        gcfreeze.settle()  # a serving process: its start-up heap is frozen (scheduler.gcfreeze)
        try:
            while not self._stop.wait(1):
                pass
        finally:
            if self.scheduler.running:
                self.stop()

    # ----------------------------------------------------------------- jobs

    def lease_tick(self) -> None:
        was = self.keeper.leading
        leading = self.keeper.tick()
        try:
            with transaction(self.sessions) as session:
                lease_store.heartbeat(session, self.node, "leader" if leading else "standby",
                                      self.started_at)
        except Exception as exc:
            log.warning("heartbeat.failed", error=first_line(exc))
        if leading and not was:
            self.wake()

    def wake(self) -> None:
        """Run dispatch now (a new leader, or NOTIFY from the API). A wake-up that lands
        while a dispatch runs is kept and honoured when it ends, not dropped."""
        self._wake_pending.set()
        self._rearm(datetime.now(UTC))

    def _arm(self, delay: float) -> None:
        delay = max(0.0, min(delay, self.settings.poll_interval))
        self._rearm(datetime.now(UTC) + timedelta(seconds=delay))

    def _rearm(self, when: datetime) -> None:
        """Move the dispatch job's next run, unless the daemon is stopping.

        APScheduler's ``shutdown(wait=True)`` holds the job-store lock while it waits
        for running jobs; a dispatch that then re-arms itself (``modify_job`` needs that
        lock) would wait for the shutdown that waits for it: a SIGTERM that never ends.
        """
        with self._arm_lock:
            if self._stop.is_set():
                return
            with contextlib.suppress(Exception):  # the scheduler is already shut down
                self.scheduler.modify_job("dispatch", next_run_time=when)

    def dispatch_tick(self) -> None:
        if not self.keeper.leading:
            return
        epoch = self.keeper.epoch
        assert epoch is not None
        self._wake_pending.clear()  # this run covers every wake-up before it
        started = time.monotonic()
        try:
            still = lambda: self.keeper.leading and not self._stop.is_set()  # noqa: E731
            fired = self.dispatcher.drain(epoch, still)
            fired += self.fanout.drain(epoch, still)
            with transaction(self.sessions) as session:
                earliest = fire_store.earliest_due(session)
                now = db_now(session)
        except FencedOut as exc:
            self.keeper.lose(str(exc), epoch=epoch)
            return
        except Exception as exc:
            log.warning("dispatch.error", error=first_line(exc))
            self._arm(1.0)
            return
        # Tests wait for this line (at DEBUG) to know the leader has gone idle.
        log.debug("dispatch.idle", fired=fired, earliest_due=earliest)
        if self._wake_pending.is_set():
            self._arm(0.0)
        elif earliest is not None:
            # +2 ms: wake just after the due instant by the database's clock.
            delay = (earliest - now).total_seconds() + 0.002
            was_due_before = delay < -(time.monotonic() - started)
            if fired == 0 and was_due_before:
                # Due, yet nothing could be claimed: the rows are locked by another
                # transaction (a replaced leader's, until it is ended). Do not spin.
                delay = LOCKED_BACKOFF
            self._arm(delay)

    @_leader_job("backfill")
    def backfill_tick(self) -> None:
        epoch = self.keeper.epoch
        if epoch is not None:
            self.backfiller.run_step(epoch)

    @_leader_job("relay")
    def relay_tick(self) -> None:
        self.dispatcher.relay(RELAY_SETTLE, self.settings.requeue_after)
        with transaction(self.sessions) as session:
            metrics.BACKLOG.set(fire_store.outbox_backlog(session))

    @_leader_job("reaper")
    def reap_tick(self) -> None:
        with transaction(self.sessions) as session:
            lost = exec_store.reap_lost(session, db_now(session), self.settings.reap_margin)
        with transaction(self.sessions) as session:
            released = exec_store.release_orphaned_holds(session)
        if released:
            log.warning("reaper.released_holds", count=released)
        if lost:
            metrics.REAPED.inc(len(lost))
            log.warning("reaper.failed_lost", count=len(lost), ids=",".join(lost[:10]))

    @_leader_job("retention")
    def prune_tick(self) -> None:
        with transaction(self.sessions) as session:
            now = db_now(session)
            abandoned = deployment_store.prune_abandoned(
                session, now - timedelta(seconds=ABANDONED_AFTER))
        if abandoned:
            log.info("retention.abandoned_uploads", count=abandoned)
        if self.settings.retention_days <= 0:
            return
        with transaction(self.sessions) as session:
            cutoff = db_now(session) - timedelta(days=self.settings.retention_days)
            removed = exec_store.prune(session, cutoff)
            removed += event_store.prune(session, cutoff)
            project_store.prune_execution_keys(session, db_now(session))
        if removed:
            log.info("retention.pruned", count=removed)

    # ----------------------------------------------------------------- NOTIFY

    def _listen(self) -> None:
        """Wake dispatch when the API adds a one-shot or changes a schedule."""
        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                listen_wakeups(url, self._stop, self._on_notify)
            except Exception as exc:
                log.warning("listen.error", error=first_line(exc))
                time.sleep(1)

    def _on_notify(self) -> None:
        if self.keeper.leading:
            log.info("dispatch.woken", node=self.node, reason="notify")
            self.wake()
