"""Smaller defects of the core, each shown on real PostgreSQL (and a real worker or
scheduler process where the defect needed one)."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import text, update

from scheduler.config import Settings
from scheduler.leader.daemon import Daemon, node_name
from scheduler.leader.lease import LeaseKeeper
from scheduler.store.db import db_now, transaction
from scheduler.store.executions import claim, reap_lost
from scheduler.store.models import Execution, Function
from tasks.claim import DISABLED_ERROR
from tests.helpers import start_scheduler, start_worker, tocsin_env, wait_for
from tests.integration.test_stalls import _NullPublisher


def test_a_stale_fenced_out_does_not_clear_a_reacquired_lease(store):
    """Killed mutation: dispatch_tick calling keeper.lose() without the epoch guard."""
    keeper = LeaseKeeper(store.sessions, "node-a", ttl=30)
    assert keeper.tick()
    first = keeper.epoch
    with transaction(store.sessions) as s:  # the lease lapses and is re-acquired
        s.execute(text("UPDATE leases SET expires_at = now() - interval '1 second'"))
    assert keeper.tick() and keeper.epoch == first + 1
    keeper.lose("node-a no longer leads with epoch 1", epoch=first)  # late, from epoch 1
    assert keeper.leading and keeper.epoch == first + 1
    keeper.lose("current epoch fenced", epoch=first + 1)
    assert not keeper.leading


def _processing(store, started_ago: float, timeout: int, function: str = "f1") -> str:
    eid = store.waiting(function)
    with transaction(store.sessions) as s:
        started = db_now(s) - timedelta(seconds=started_ago)
        assert claim(s, eid, started, lambda _ex, _fn: timeout) is not None
    return eid


def test_reaper_judges_a_run_by_the_timeout_it_started_under(store):
    """Killed mutations: reaping by the function's current timeout; ordering the reaper's
    page by start time (a lost short run behind 1,000 long ones was never found)."""
    store.function(timeout=60)
    running = _processing(store, started_ago=10, timeout=60)
    with transaction(store.sessions) as s:  # the function's timeout is lowered meanwhile
        s.execute(update(Function).values(timeout=1))
    long_ones = [_processing(store, started_ago=100, timeout=900) for _ in range(5)]
    lost = _processing(store, started_ago=5, timeout=1)
    with transaction(store.sessions) as s:
        reaped = reap_lost(s, db_now(s), margin=0, limit=3)
    assert reaped == [lost]
    assert store.get(Execution, running).status == "processing"
    assert all(store.get(Execution, e).status == "processing" for e in long_ones)


def test_each_process_has_its_own_holder_even_with_one_name(pg_url, broker_url, store,
                                                           tmp_path):
    """Two nodes started with one name (or pid 1 in every container) used to share an
    epoch: both renewed "their" lease. Killed mutation: holder = name alone."""
    settings = Settings(database_url=pg_url, node_name="same")
    assert node_name(settings) != node_name(settings)
    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL="2")
    procs = [start_scheduler(env, "same", tmp_path / f"{i}") for i in range(2)
             if (tmp_path / f"{i}").mkdir() is None]
    try:
        wait_for(lambda: store.scalar("SELECT count(*) FROM nodes") == 2, 15,
                 what="both nodes to report")
        time.sleep(2)
        roles = store.scalar("SELECT count(*) FROM nodes WHERE role = 'leader'")
        assert roles == 1
        acquired = sum(p.output().count("lease.acquired") for p in procs)
        assert acquired == 1
    finally:
        for p in procs:
            p.stop()


def test_a_wake_up_during_a_dispatch_is_kept(pg_url, store):
    """A NOTIFY that lands while a dispatch runs used to be dropped (APScheduler skips a
    run of a job already running); the one-shot then waited for the safety-net poll,
    here set to 60 s. Killed mutation: wake() without the pending flag."""
    store.function()
    daemon = Daemon(Settings(database_url=pg_url, broker_url="memory://", lease_ttl=5,
                             poll_interval=60), publisher=_NullPublisher())
    original = daemon.dispatcher.drain
    in_drain = []

    def slow_drain(*args, **kwargs):
        in_drain.append(True)
        time.sleep(1.0)  # a long batch
        return original(*args, **kwargs)

    daemon.dispatcher.drain = slow_drain  # type: ignore[method-assign]
    try:
        daemon.start()
        wait_for(lambda: daemon.keeper.leading and in_drain, 10, what="a first dispatch")
        time.sleep(1.5)  # the first drains are over; the next is armed 60 s out
        in_drain.clear()
        daemon.wake()
        wait_for(lambda: in_drain, 5, what="the woken dispatch to start")
        eid = store.oneshot(at=store.now() - timedelta(seconds=1))
        daemon.wake()  # arrives while that dispatch sleeps in its batch
        wait_for(lambda: store.get(Execution, eid).status == "waiting", 15,
                 what="the one-shot woken during a dispatch")
    finally:
        daemon.stop()


def test_updated_at_is_written_by_the_database_clock(store):
    store.function()
    eid = store.waiting()
    with transaction(store.sessions) as s:
        row = s.get(Execution, eid)
        row.status = "processing"
        s.flush()
        tx_time = s.execute(text("SELECT now()")).scalar_one()
    assert store.get(Execution, eid).updated_at == tx_time


def test_queued_runs_of_a_disabled_function_fail_with_a_clear_error(pg_url, broker_url,
                                                                    store, tmp_path):
    """Decided: a function disabled after a run was queued does not run it; the run is
    failed with a message saying why (Appwrite refuses new executions of a disabled
    function; queued ones must not slip through)."""
    from scheduler.broker.publish import RedisPublisher

    store.function(enabled=False)
    eid = store.waiting()
    worker = start_worker(tocsin_env(pg_url, broker_url), "wdis", tmp_path)
    try:
        RedisPublisher(broker_url).publish([eid])
        wait_for(lambda: store.get(Execution, eid).status == "failed", 30,
                 what="the queued run to fail")
        assert store.get(Execution, eid).errors == DISABLED_ERROR
    finally:
        worker.stop()
