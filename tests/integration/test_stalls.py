"""A node stopped at the worst moment never stops dispatch for longer than the TTL plus a
few seconds, and nothing it wrote commits after it was replaced (DESIGN invariants 2, 6).

The pause is injected where it hurts (``scheduler.faults``): the process stops itself
with SIGSTOP while it holds the lease row lock, inside the fires' COPY, or after pinning
the lease. Real scheduler processes, real PostgreSQL.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from scheduler.config import Settings
from scheduler.leader.daemon import Daemon
from scheduler.store.models import Execution
from tests.helpers import leader, start_scheduler, tocsin_env, wait_for

TTL = 2.0
# Takeover needs the lease to expire (TTL), a campaign tick (<= 1 s), the old sessions
# to be ended, and a dispatch; beyond this a stalled node has blocked failover.
STALL_BOUND = TTL + 4.0
pytestmark = pytest.mark.slow


def stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] == "T"


def _two_nodes(pg_url, broker_url, tmp_path, store, fault: str):
    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL=str(TTL), TOCSIN_POLL_INTERVAL="1")
    n1 = start_scheduler({**env, "TOCSIN_FAULT_PAUSE": fault}, "n1", tmp_path)
    wait_for(lambda: leader(store), 15, what="n1 to lead")
    n2 = start_scheduler(env, "n2", tmp_path)
    return n1, n2


def _lateness(store, ids: list[str]) -> list[float]:
    rows = [store.get(Execution, i) for i in ids]
    return [(r.enqueued_at - r.scheduled_at).total_seconds() for r in rows]


def test_node_paused_holding_the_lease_row_lock_does_not_stop_fires(
        pg_url, broker_url, tmp_path, store):
    """Killed mutation: lease transactions without idle/lock/statement timeouts (the
    standby's campaign then waits on the row lock forever)."""
    store.function()
    n1, n2 = _two_nodes(pg_url, broker_url, tmp_path, store, "lease.renew.locked:6")
    try:
        now = store.now()
        ids = [store.oneshot(at=now + timedelta(seconds=1 + i * 0.5)) for i in range(24)]
        wait_for(lambda: stopped(n1.pid), 15, what="n1 to stop inside its renewal")
        wait_for(lambda: all(store.get(Execution, i).status != "scheduled" for i in ids),
                 30, what="every one-shot dispatched while n1 is stopped")
        assert max(_lateness(store, ids)) <= STALL_BOUND
        assert leader(store)[0] == "n2"
    finally:
        n1.signal(signal.SIGCONT)
        n1.stop()
        n2.stop()


@pytest.mark.parametrize("fault", ["dispatch.copy.tocsin_fires:1", "dispatch.claimed:1",
                                   "dispatch.pinned:1"])
def test_leader_paused_inside_a_dispatch_is_replaced_and_writes_nothing(
        pg_url, broker_url, tmp_path, store, fault):
    """Paused mid-COPY (a statement no timeout can end), with claimed rows locked, or
    after pinning the lease: the successor dispatches every fire within the bound, and
    no fire carries the paused leader's epoch, even after it resumes.

    Killed mutations: no ending of the replaced leader's sessions (mid-COPY: the claimed
    rows stay locked and the successor skips them); no idle timeout after the pin."""
    store.function()
    n1, n2 = _two_nodes(pg_url, broker_url, tmp_path, store, fault)
    try:
        old_epoch = leader(store)[1]
        due = store.now() + timedelta(seconds=2)
        sids = [store.schedule(cron="0 0 1 1 *", at=due) for _ in range(20)]  # one fire each
        wait_for(lambda: stopped(n1.pid), 15, what="n1 to stop inside its dispatch")
        count = "SELECT count(*) FROM executions WHERE schedule_id IS NOT NULL"
        wait_for(lambda: store.scalar(count) == 20, 20, what="the successor's 20 fires")
        rows = [r for r in store.executions() if r.schedule_id in sids]
        assert len(rows) == 20 and len({r.schedule_id for r in rows}) == 20
        assert max((r.created_at - due).total_seconds() for r in rows) <= STALL_BOUND
        new_epoch = leader(store)[1]
        assert new_epoch > old_epoch
        n1.signal(signal.SIGCONT)  # the paused leader resumes and tries to finish
        wait_for(lambda: "lease.lost" in n1.output() or "dispatch.error" in n1.output()
                 or n1.popen.poll() is not None, 15, what="n1 to notice it was replaced")
        time.sleep(TTL)  # give a stale commit every chance to land
        epochs = {r.epoch for r in store.executions() if r.schedule_id in sids}
        assert epochs == {new_epoch}, f"fires by {epochs}, expected only {new_epoch}"
        assert store.scalar(count) == 20
    finally:
        n1.signal(signal.SIGCONT)
        n1.stop()
        n2.stop()


def test_dispatcher_does_not_spin_while_due_rows_are_locked(pg_url, store):
    """Rows due but locked by another transaction: earliest_due keeps returning a past
    time, and a dispatcher that re-arms for it at once runs hundreds of empty drains a
    second. Killed mutation: no back-off when nothing could be claimed. Once the lock
    goes, the fire is dispatched."""
    store.function()
    sid = store.schedule(cron="0 0 1 1 *", at=store.now() - timedelta(seconds=1))
    daemon = Daemon(Settings(database_url=pg_url, broker_url="memory://", lease_ttl=5,
                             poll_interval=5), publisher=_NullPublisher())
    drains = 0
    original = daemon.dispatcher.drain

    def counting(*args, **kwargs):
        nonlocal drains
        drains += 1
        return original(*args, **kwargs)

    daemon.dispatcher.drain = counting  # type: ignore[method-assign]
    holder = store.session()
    try:
        holder.execute(text("SELECT 1 FROM schedules WHERE id = :i FOR UPDATE"), {"i": sid})
        daemon.start()
        wait_for(lambda: daemon.keeper.leading, 10, what="the daemon to lead")
        wait_for(lambda: drains >= 1, 10, what="a first dispatch")
        time.sleep(3)
        assert drains <= 12, f"{drains} drains in 3 s while the due row was locked"
        holder.rollback()
        wait_for(lambda: store.scalar("SELECT count(*) FROM executions") == 1, 10,
                 what="the fire once the lock is gone")
    finally:
        holder.rollback()
        holder.close()
        daemon.stop()


def test_stopping_while_a_dispatch_runs_returns(pg_url, store):
    """SIGTERM while a dispatch is under way: APScheduler's shutdown holds its job-store
    lock while it waits for running jobs, and a dispatch that re-armed itself then
    (``modify_job`` needs that lock) waited for the shutdown waiting for it. Found by
    the 20-run loop. Killed mutation: re-arming without the stop check under
    ``_arm_lock`` (stop() never returns)."""
    store.function()
    store.schedule(cron="0 0 1 1 *", at=store.now() - timedelta(seconds=1))
    daemon = Daemon(Settings(database_url=pg_url, broker_url="memory://", lease_ttl=5,
                             poll_interval=5), publisher=_NullPublisher())
    under_way = threading.Event()
    original = daemon.dispatcher.drain

    def slow(*args, **kwargs):
        under_way.set()
        time.sleep(1.0)  # long enough for stop() to be inside shutdown when this ends
        return original(*args, **kwargs)

    daemon.dispatcher.drain = slow  # type: ignore[method-assign]
    daemon.start()
    wait_for(under_way.is_set, 10, what="a dispatch under way")
    stopper = threading.Thread(target=daemon.stop, daemon=True)
    stopper.start()
    stopper.join(15)
    assert not stopper.is_alive(), "stop() hung behind a dispatch re-arming itself"


class _NullPublisher:
    def publish(self, execution_ids, sync=False) -> None:
        pass

    def held(self, execution_ids):
        return set(execution_ids)

    def forget(self, execution_ids) -> None:
        pass

    def trim(self) -> None:
        pass

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass
