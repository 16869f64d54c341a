"""The leader creates backfills' fires in paced, fenced steps.

A step is one transaction: the oldest running backfill, its next ``step`` fire times,
their rows (ignored where the (schedule, nominal time) key already exists), and the
backfill's cursor, fenced like a dispatch batch so a deposed leader's step cannot
commit. Steps run apart from live dispatch (their own job, a pause between them), so
a 10,000-fire backfill never holds the dispatcher up for more than one small step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scheduler.leader.dispatcher import Dispatcher, fire_row
from scheduler.logs import get_logger
from scheduler.store import backfills as store
from scheduler.store import fires
from scheduler.store.db import transaction
from scheduler.store.leases import fence

log = get_logger(__name__)


@dataclass
class Step:
    backfill_id: str | None = None
    created: int = 0
    existing: int = 0
    finished: bool = False
    ids: list[str] = field(default_factory=list)


class Backfiller:
    def __init__(self, dispatcher: Dispatcher, step: int = 500) -> None:
        self.dispatcher = dispatcher
        self.step = step

    def run_step(self, epoch: int) -> Step:
        """One fenced step of the oldest running backfill; raises FencedOut if
        leadership is gone."""
        d = self.dispatcher
        out = Step()
        with transaction(d.sessions) as session:
            now, _ = fence(session, d.node, epoch, pin=False)
            found = store.next_running(session)
            if found is None:
                return out
            backfill, sched = found
            times = store.first_fires(sched, backfill.cursor_at, backfill.to_at, self.step)
            rows = [fire_row(sched, t, now, epoch, None, held=False) for t in times]
            out.ids = fires.insert_fires(session, rows)
            out.finished = len(times) < self.step
            store.advance(backfill, times, len(out.ids), now, out.finished)
            out.backfill_id, out.created = backfill.id, len(out.ids)
            out.existing = len(times) - len(out.ids)
            fence(session, d.node, epoch, pin=True)
        if out.ids:
            d.publish(out.ids, marked=True)
        log.info("backfill.step", backfill_id=out.backfill_id, created=out.created,
                 existing=out.existing, finished=out.finished, epoch=epoch)
        return out
