"""One fenced dispatch batch: due rows -> execution rows -> broker.

The execution rows and the schedules' new ``next_fire_at`` commit together,
in a transaction that proves leadership (holder and epoch) first, so a fire is
written once per (schedule, nominal time) and never by a deposed leader.
Publishing happens after commit; whatever fails to publish stays in the
outbox for the relay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from scheduler import metrics
from scheduler.broker.publish import Publisher
from scheduler.faults import pause_point
from scheduler.logs import first_line, get_logger
from scheduler.rules import jitter, lifecycle, overlap
from scheduler.rules.admission import DEFAULT_WINDOW
from scheduler.rules.ids import new_id
from scheduler.rules.overlap import Active, Overlap
from scheduler.rules.policies import MissedRunRule, decide
from scheduler.rules.states import ExecutionStatus
from scheduler.rules.timerules import parse_cron
from scheduler.store import admission
from scheduler.store import fires as store
from scheduler.store.db import db_now, transaction
from scheduler.store.executions import cancel_waiting, release_buffered
from scheduler.store.leases import fence, record_dispatch

log = get_logger(__name__)
NOTHING_ACTIVE = Active()


@dataclass
class BatchResult:
    fired: int = 0
    skipped: int = 0
    oneshots: int = 0
    published: int = 0
    claimed: int = 0
    full: bool = False
    lags_ms: list[float] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    # Where this batch ended, so the next batch of the same drain seeks past it.
    schedule_cursor: store.Cursor | None = None
    oneshot_cursor: store.Cursor | None = None


@dataclass
class Plan:
    """What a batch writes: execution rows (``held``: not published now, jittered or
    buffered), schedule advances, skips, and schedules whose waiting runs to cancel."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    advances: list[store.Advance] = field(default_factory=list)
    skipped: int = 0
    held: set[str] = field(default_factory=set)
    cancel: list[str] = field(default_factory=list)
    release: list[str] = field(default_factory=list)  # schedules whose orphaned hold starts


class FireSource(Protocol):
    """What a fire's row is made from: a due schedule, or a schedule row (backfill)."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def function_id(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...


def fire_row(sched: FireSource, nominal: datetime, now: datetime, epoch: int,
             start_at: datetime | None, held: bool) -> dict[str, Any]:
    """An execution row for one fire (its own values: ``store.fires.FIRE_CONSTANTS``
    holds what every fire shares). ``held``: written ``scheduled``, to start at
    ``start_at`` (jitter), or, with none, when the schedule's running one ends."""
    payload = sched.payload or {}
    status, enqueued_at = lifecycle.initial_state(held, now)
    return {
        "id": new_id(), "project_id": sched.project_id,
        "function_id": sched.function_id, "schedule_id": sched.id,
        "scheduled_for": nominal, "scheduled_at": start_at if held else None,
        "status": status,
        "request_method": payload.get("method", "POST"),
        "request_path": payload.get("path", "/"),
        "request_headers": payload.get("headers", {}),
        "request_body": payload.get("body", ""),
        "epoch": epoch, "enqueued_at": enqueued_at,
        "created_at": now, "updated_at": now,
    }


def plan_fires(
    due: Sequence[store.DueSchedule], now: datetime, epoch: int, budget: float = 1e9,
    leading_since: datetime | None = None, active: dict[str, Active] | None = None,
) -> Plan:
    """Decide each due schedule under its missed-run policy, then its overlap policy
    (``active``: its runs not yet ended) and jitter; build rows and advances.

    Stops after ``budget`` seconds (at least one schedule is always decided): the
    session is idle while this runs, and must stay under its idle timeout. The
    schedules not decided are not advanced and come due again in the next batch.
    """
    plan = Plan()
    active = active or {}
    deadline = time.monotonic() + budget
    for sched in due:
        if plan.advances and time.monotonic() > deadline:
            break
        decision = decide(
            parse_cron(sched.cron), ZoneInfo(sched.timezone), sched.next_fire_at, now,
            MissedRunRule(sched.missed_policy, sched.misfire_grace,
                          sched.catchup_window, sched.catchup_cap),
            leading_since,
        )
        if decision.truncated:
            log.warning("skip.count_truncated", schedule_id=sched.id, counted=decision.skipped)
        chosen = overlap.decide(sched.overlap, active.get(sched.id, NOTHING_ACTIVE),
                                decision.fire)
        for nominal in chosen.run:
            if sched.jitter:
                later = [t for t in decision.fire if t > nominal]
                following = min(later) if later else decision.next_fire_at
                start = nominal + jitter.delay(sched.id, nominal, sched.jitter, following)
                row = fire_row(sched, nominal, now, epoch, start, held=start > now)
            else:
                row = fire_row(sched, nominal, now, epoch, None, held=False)
            plan.rows.append(row)
        if chosen.buffer is not None:
            plan.rows.append(fire_row(sched, chosen.buffer, now, epoch, None, held=True))
        if chosen.cancel_waiting:
            plan.cancel.append(sched.id)
        if chosen.release_buffered:
            plan.release.append(sched.id)
        plan.skipped += decision.skipped + len(chosen.skipped)
        plan.advances.append(store.Advance(
            schedule_id=sched.id, next_fire_at=decision.next_fire_at,
            last_fire_at=max(decision.fire) if decision.fire else None,
            skipped=decision.skipped, last_skipped_at=decision.last_skipped,
            overlap_skipped=len(chosen.skipped),
            last_overlap_at=max(chosen.skipped) if chosen.skipped else None,
        ))
    plan.held = {r["id"] for r in plan.rows if r["status"] == ExecutionStatus.SCHEDULED}
    return plan


class Dispatcher:
    def __init__(self, sessions: sessionmaker[Session], publisher: Publisher, node: str,
                 batch_size: int = 1000, lease_ttl: float = 10.0, lanes: int = 1,
                 window: int = DEFAULT_WINDOW) -> None:
        self.sessions = sessions
        self.window = window  # a project's runs in the broker at once (rules.admission)
        self.publisher = publisher
        self.node = node
        self.batch_size = batch_size
        # A transaction idle longer than this is cut off by PostgreSQL; planning
        # (Python work with the session idle) gets half of it.
        self.idle_timeout = max(1.0, lease_ttl / 2)
        self.lanes = lanes
        self._relay_cursor: store.Cursor | None = None

    def drain(self, epoch: int, still_leading: Callable[[], bool]) -> int:
        """Batches until nothing is due, publishing batch k while batch k+1 is written.

        When the first batch is full (a backlog), ``lanes - 1`` more lanes join: each
        runs its own fenced batches, and ``SKIP LOCKED`` keeps their claims apart, so
        one lane's Python (deciding, formatting) overlaps another's database work. A
        row a failed lane leaves due is claimed by the next drain. One publisher
        thread hands the batches to the broker as they commit. Returns rows fired.
        """
        with (ThreadPoolExecutor(max_workers=1, thread_name_prefix="tocsin-publish") as pool,
              ThreadPoolExecutor(max_workers=max(1, self.lanes - 1),
                                 thread_name_prefix="tocsin-lane") as helpers):
            pending: list[Future[int]] = []
            joined: list[Future[int]] = []

            def submit(ids: list[str]) -> None:
                pending.append(pool.submit(self.publish, ids, True))

            def widen() -> None:
                joined.extend(helpers.submit(self._lane, epoch, still_leading, submit, None)
                              for _ in range(self.lanes - 1))

            try:
                fired = self._lane(epoch, still_leading, submit,
                                   widen if self.lanes > 1 else None)
                fired += sum(lane.result() for lane in joined)
            finally:
                wait(joined)  # no lane outlives its drain, even when this one failed
                for future in pending:
                    future.result()
        return fired

    def _lane(self, epoch: int, still_leading: Callable[[], bool],
              submit: Callable[[list[str]], None],
              on_backlog: Callable[[], None] | None) -> int:
        fired = 0
        cursors: tuple[store.Cursor | None, store.Cursor | None] = (None, None)
        while still_leading():
            result = self.run_batch(epoch, publish=False, cursors=cursors)
            cursors = (result.schedule_cursor, result.oneshot_cursor)
            fired += result.fired + result.oneshots
            if result.ids:
                submit(result.ids)
            if not result.full:
                break
            if on_backlog is not None:
                on_backlog()
                on_backlog = None
        return fired

    def run_batch(self, epoch: int, publish: bool = True,
                  cursors: tuple[store.Cursor | None, store.Cursor | None] = (None, None),
                  ) -> BatchResult:
        """One transaction's worth; raises FencedOut if leadership is gone."""
        result = BatchResult(schedule_cursor=cursors[0], oneshot_cursor=cursors[1])
        with transaction(self.sessions) as session:
            now, since = fence(session, self.node, epoch, pin=False,
                               idle_timeout=self.idle_timeout)
            store.plan_by_indexes(session)
            due = store.claim_due_schedules(session, now, self.batch_size, cursors[0])
            if due:
                pause_point("dispatch.claimed")
            guarded = [d.id for d in due if d.overlap != Overlap.ALLOW]
            plan = plan_fires(due, now, epoch, budget=self.idle_timeout / 2,
                              leading_since=since,
                              active=store.active_runs(session, guarded))
            result.skipped = plan.skipped
            # Only the decided schedules count as handled in this batch.
            undecided = len(due) > len(plan.advances)
            due = due[: len(plan.advances)]
            if plan.cancel:
                cancel_waiting(session, plan.cancel, now)
            if plan.release:  # due now: the next batch (woken on commit) starts them
                release_buffered(session, plan.release)
            inserted = [i for i in store.insert_fires(session, plan.rows)
                        if i not in plan.held]
            store.advance_schedules(session, plan.advances, now)
            # Rows are marked enqueued optimistically in this same transaction,
            # saving a round trip per batch; a failed publish clears the mark, and a
            # leader that dies before publishing leaves them to the relay's requeue.
            oneshots = store.promote_due_oneshots(session, now, epoch, self.batch_size,
                                                  cursors[1])
            nominal = {r["id"]: r["scheduled_for"] for r in plan.rows}
            result.lags_ms = [(now - nominal[i]).total_seconds() * 1000 for i in inserted]
            result.lags_ms += [(now - at).total_seconds() * 1000 for _, at in oneshots]
            # Fair hand-over: what a project's window allows goes now, oldest first; the
            # rest waits, unmarked, for its project's runs to start.
            ready = admission.cap(session, inserted + [i for i, _ in oneshots], self.window,
                                  now)
            if inserted or oneshots:
                record_dispatch(session, self.node, epoch, now,
                                max(result.lags_ms) if result.lags_ms else None)
            if due or oneshots:
                # Nothing written commits unless the lease is still ours, pinned to commit.
                fence(session, self.node, epoch, pin=True)
                pause_point("dispatch.pinned")
        result.ids = ready
        if due:
            result.schedule_cursor = (due[-1].next_fire_at, due[-1].id)
        if oneshots:
            result.oneshot_cursor = (oneshots[-1][1], oneshots[-1][0])
        result.fired, result.oneshots, result.claimed = len(inserted), len(oneshots), len(due)
        result.full = (undecided or len(due) >= self.batch_size
                       or len(oneshots) >= self.batch_size)
        if result.ids and publish:
            result.published = self.publish(result.ids, marked=True)
        for lag in result.lags_ms:
            metrics.DISPATCH_LAG.observe(lag / 1000)
        metrics.FIRES.labels("fired").inc(result.fired)
        metrics.FIRES.labels("oneshot").inc(result.oneshots)
        metrics.FIRES.labels("skipped").inc(result.skipped)
        if result.ids or result.skipped:
            log.info("dispatch.batch", epoch=epoch, fired=result.fired,
                     oneshots=result.oneshots, skipped=result.skipped,
                     max_lag_ms=round(max(result.lags_ms), 1) if result.lags_ms else None)
        return result

    def publish(self, ids: list[str], marked: bool = False) -> int:
        """Hand ``ids`` to the broker. ``marked``: the rows already carry enqueued_at
        (dispatch); otherwise they are marked after a successful publish (relay).
        On broker failure the rows are left, unmarked, to the relay."""
        started = time.monotonic()
        try:
            self.publisher.publish(ids)
        except Exception as exc:
            metrics.PUBLISH_FAILURES.inc()
            log.warning("publish.failed", count=len(ids), error=first_line(exc))
            if marked:
                self._mark(ids, enqueued=False)
            return 0
        if not marked:
            self._mark(ids, enqueued=True)
        log.debug("publish.done", count=len(ids),
                  ms=round((time.monotonic() - started) * 1000, 1))
        return len(ids)

    def _mark(self, ids: list[str], enqueued: bool) -> None:
        try:
            with transaction(self.sessions) as session:
                store.mark_enqueued(session, ids, db_now(session) if enqueued else None)
        except Exception as exc:
            # Marked but not published: the relay's requeue sends them after
            # TOCSIN_REQUEUE_AFTER. Published but not marked: a duplicate message
            # at worst, which the worker's atomic claim makes a no-op.
            log.warning("publish.mark_failed", count=len(ids), error=first_line(exc))

    def relay(self, settle: float, requeue_after: float) -> int:
        """Republish what the broker does not have. Rules:

        * a synchronous row never handed over (publish failed) is sent once it is
          ``settle`` old; asynchronous ones are handed over as their project's window
          and functions allow (``admission.refill``), whether a publish failed or fair
          hand-over held them back;
        * a row handed over ``requeue_after`` ago and still waiting is sent again only
          if the broker no longer holds its message (``Publisher.held``): a long queue
          is left alone, a lost one (broker restarted empty, sender died between commit
          and publish) is refilled. Pages through the backlog across calls.
        A broker that cannot tell (``held`` is None) gets the row again per period.
        """
        with transaction(self.sessions) as session:
            now = db_now(session)
            fresh = store.unpublished(session, now, settle, self.batch_size)
            refilled = [i for project_id in admission.projects_holding(session, self.batch_size)
                        for i in admission.refill(session, project_id, self.window, now)]
            stale = store.handed_over(session, now - timedelta(seconds=requeue_after),
                                      self._relay_cursor, self.batch_size)
        sent = 0
        if refilled:
            log.info("relay.republish", count=len(refilled), reason="held_back")
            sent += self.publish(refilled, marked=True)
        if fresh:
            log.info("relay.republish", count=len(fresh), reason="unpublished")
            sent += self.publish(fresh)
        self._relay_cursor = ((stale[-1][1], stale[-1][0]) if len(stale) >= self.batch_size
                              else None)
        if stale:
            ids = [i for i, _ in stale]
            held = self.publisher.held(ids)
            lost = ids if held is None else [i for i in ids if i not in held]
            if lost:
                log.info("relay.republish", count=len(lost), reason="not_held_by_broker")
                sent += self.publish(lost)
        self.publisher.trim()
        return sent
