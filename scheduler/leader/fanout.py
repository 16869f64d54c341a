"""The leader turns recorded events into executions: fenced, once, in order.

Runs after each dispatch drain (the API's NOTIFY wakes it, as for one-shots). Each
batch is one transaction fenced like a dispatch batch, so a deposed leader's fan-out
cannot commit; its executions are marked handed over in that transaction and
published after commit, so a crash in between leaves them to the relay.
"""

from __future__ import annotations

from collections.abc import Callable

from scheduler import metrics
from scheduler.leader.dispatcher import Dispatcher
from scheduler.logs import get_logger
from scheduler.store import admission
from scheduler.store import events as store
from scheduler.store.db import transaction
from scheduler.store.leases import fence

log = get_logger(__name__)


class EventFanOut:
    def __init__(self, dispatcher: Dispatcher, max_depth: int, batch_size: int = 500) -> None:
        self.dispatcher = dispatcher
        self.max_depth = max_depth
        self.batch_size = batch_size

    def run_batch(self, epoch: int) -> store.FanOut:
        """One fenced transaction; raises FencedOut if leadership is gone."""
        d = self.dispatcher
        with transaction(d.sessions) as session:
            now, _ = fence(session, d.node, epoch, pin=False)
            result = store.fan_out(session, now, epoch, self.batch_size, self.max_depth)
            result.execution_ids = admission.cap(session, result.execution_ids, d.window, now)
            if result.events:
                fence(session, d.node, epoch, pin=True)
        if result.execution_ids:
            d.publish(result.execution_ids, marked=True)
        for source, count in result.by_source.items():
            metrics.EVENTS.labels(source).inc(count)
        metrics.EVENTS_STOPPED.inc(result.stopped)
        if result.events:
            log.info("events.fanned_out", epoch=epoch, events=result.events,
                     executions=len(result.execution_ids), stopped=result.stopped)
        return result

    def drain(self, epoch: int, still_leading: Callable[[], bool]) -> int:
        """Batches until no event is pending (or leadership is lost)."""
        total = 0
        while still_leading():
            result = self.run_batch(epoch)
            total += result.events
            if result.events < self.batch_size:
                break
        return total
