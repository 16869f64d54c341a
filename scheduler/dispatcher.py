"""One fenced dispatch batch: due rows -> execution rows -> broker.

The execution rows and the schedules' new ``next_fire_at`` commit together,
in a transaction that proves leadership (holder and epoch) first, so a fire is
written once per (schedule, nominal time) and never by a deposed leader.
Publishing happens after commit; whatever fails to publish stays in the
outbox for the relay.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from scheduler import metrics
from scheduler.logs import get_logger
from scheduler.policies import MissedRunRule, decide
from scheduler.publish import Publisher
from scheduler.store import fires as store
from scheduler.store.db import db_now, transaction
from scheduler.store.leases import fence, record_dispatch
from scheduler.timerules import parse_cron

log = get_logger(__name__)


def new_execution_id() -> str:
    """Appwrite-shaped id: 20 hex characters."""
    return secrets.token_hex(10)


@dataclass
class BatchResult:
    fired: int = 0
    skipped: int = 0
    oneshots: int = 0
    published: int = 0
    claimed: int = 0
    full: bool = False
    lags_ms: list[float] = field(default_factory=list)


def plan_fires(
    due: Sequence[store.DueSchedule], now: datetime, epoch: int
) -> tuple[list[dict[str, Any]], list[store.Advance], int]:
    """Decide each due schedule under its policy; build rows and advances."""
    rows: list[dict[str, Any]] = []
    advances: list[store.Advance] = []
    skipped = 0
    for sched in due:
        decision = decide(
            parse_cron(sched.cron), ZoneInfo(sched.timezone), sched.next_fire_at, now,
            MissedRunRule(sched.missed_policy, sched.misfire_grace,  # type: ignore[arg-type]
                          sched.catchup_window, sched.catchup_cap),
        )
        payload = sched.payload or {}
        for nominal in decision.fire:
            rows.append({
                "id": new_execution_id(), "project_id": sched.project_id,
                "function_id": sched.function_id, "schedule_id": sched.id,
                "scheduled_for": nominal, "scheduled_at": None, "trigger": "schedule",
                "status": "waiting", "sync": False,
                "request_method": payload.get("method", "POST"),
                "request_path": payload.get("path", "/"),
                "request_headers": payload.get("headers", {}),
                "request_body": payload.get("body", ""),
                "response_status_code": 0, "response_headers": [], "logs": "", "errors": "",
                "duration": 0.0, "epoch": epoch, "enqueued_at": None, "started_at": None,
                "finished_at": None, "attempts": 0, "created_at": now, "updated_at": now,
            })
        skipped += decision.skipped
        advances.append(store.Advance(
            schedule_id=sched.id, next_fire_at=decision.next_fire_at,
            last_fire_at=max(decision.fire) if decision.fire else None,
            skipped=decision.skipped, last_skipped_at=decision.last_skipped,
        ))
    return rows, advances, skipped


class Dispatcher:
    def __init__(self, sessions: sessionmaker[Session], publisher: Publisher, node: str,
                 batch_size: int = 1000) -> None:
        self.sessions = sessions
        self.publisher = publisher
        self.node = node
        self.batch_size = batch_size

    def run_batch(self, epoch: int) -> BatchResult:
        """One transaction's worth; raises FencedOut if leadership is gone."""
        result = BatchResult()
        with transaction(self.sessions) as session:
            now = fence(session, self.node, epoch, pin=False)
            due = store.claim_due_schedules(session, now, self.batch_size)
            rows, advances, result.skipped = plan_fires(due, now, epoch)
            inserted = store.insert_fires(session, rows)
            store.advance_schedules(session, advances, now)
            oneshots = store.promote_due_oneshots(session, now, epoch, self.batch_size)
            nominal = {r["id"]: r["scheduled_for"] for r in rows}
            result.lags_ms = [(now - nominal[i]).total_seconds() * 1000 for i in inserted]
            result.lags_ms += [(now - at).total_seconds() * 1000 for _, at in oneshots]
            if inserted or oneshots:
                record_dispatch(session, self.node, epoch, now,
                                max(result.lags_ms) if result.lags_ms else None)
            if due or oneshots:
                # Nothing written commits unless the lease is still ours, pinned to commit.
                fence(session, self.node, epoch, pin=True)
        ids = inserted + [i for i, _ in oneshots]
        result.fired, result.oneshots, result.claimed = len(inserted), len(oneshots), len(due)
        result.full = len(due) >= self.batch_size or len(oneshots) >= self.batch_size
        if ids:
            result.published = self.publish(ids)
        for lag in result.lags_ms:
            metrics.DISPATCH_LAG.observe(lag / 1000)
        metrics.FIRES.labels("fired").inc(result.fired)
        metrics.FIRES.labels("oneshot").inc(result.oneshots)
        metrics.FIRES.labels("skipped").inc(result.skipped)
        if ids or result.skipped:
            log.info("dispatch.batch", epoch=epoch, fired=result.fired,
                     oneshots=result.oneshots, skipped=result.skipped,
                     published=result.published,
                     max_lag_ms=round(max(result.lags_ms), 1) if result.lags_ms else None)
        return result

    def publish(self, ids: list[str]) -> int:
        """Publish then mark; on broker failure leave the rows to the relay."""
        started = time.monotonic()
        try:
            self.publisher.publish(ids)
        except Exception as exc:
            metrics.PUBLISH_FAILURES.inc()
            log.warning("publish.failed", count=len(ids), error=str(exc)[:200])
            return 0
        try:
            with transaction(self.sessions) as session:
                store.mark_enqueued(session, ids, db_now(session))
        except Exception as exc:
            # Published but not marked: the relay may send a duplicate, which
            # the worker's atomic claim turns into a no-op.
            log.warning("publish.mark_failed", count=len(ids), error=str(exc)[:200])
        log.debug("publish.done", count=len(ids),
                  ms=round((time.monotonic() - started) * 1000, 1))
        return len(ids)

    def relay(self, settle: float, requeue_after: float) -> int:
        with transaction(self.sessions) as session:
            ids = store.unpublished(session, db_now(session), settle, requeue_after,
                                    self.batch_size)
        if ids:
            log.info("relay.republish", count=len(ids))
            return self.publish(ids)
        return 0
