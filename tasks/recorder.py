"""A worker process's outcome recorder: asynchronous runs' outcomes are committed off
the runs' path, while Celery hands the process its next message, several in one
statement.

Why this gives nothing away (issue #31: the record was a third of a run's time in the
worker, and the worker's slot waited for it):
* A run's message is spent once its claim is committed: a redelivery finds the row
  ``processing`` and claims nothing. So acknowledging the message before the outcome
  is committed loses nothing that acknowledging after would have saved: a process
  killed in between leaves the row ``processing`` either way, and the reaper fails it
  as "worker lost" after its deadline. Nothing runs twice.
* Outcomes are recorded in the order the runs ended. The first one pending is held for
  ``hold`` seconds (``TOCSIN_RECORD_HOLD``, 0.02), so that those ending meanwhile go
  with it: one statement and one commit for a batch rather than one per run (the
  record was a fifth of the worker's database and client CPU, and the host's two cores
  were the limit). An asynchronous execution's row therefore turns final up to
  ``hold`` after its run ended.
* At most ``PENDING`` outcomes wait; a run that ends while the recorder is that far
  behind waits for room, so a slow database slows the worker rather than piling
  outcomes up in memory.
* A process that ends on purpose (warm shutdown, a recycled child) records what is
  pending first, without waiting out the hold (``close``, from Celery's
  ``worker_process_shutdown``).
* Synchronous runs do not come here: they record before their answer is posted, so a
  caller that reads its execution right after the answer sees it final.

The recorder knows nothing of the database: it hands each batch to ``flush`` (the
worker's, ``tasks.outcomes``), which records it and must not raise for one bad outcome.
Started only in Celery's prefork children (``tasks.app``); elsewhere (``tocsin up``,
direct calls) ``submit`` flushes inline.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from scheduler.faults import pause_point
from scheduler.logs import get_logger

log = get_logger(__name__)

PENDING = 16  # outcomes that may wait to be recorded before a run waits for room
HOLD = 0.02  # seconds the first pending outcome waits for others to go with it (default)
CLOSE_TIMEOUT = 120.0  # seconds a shutdown waits for pending records (outage retries)

T = TypeVar("T")


class _Stop:
    """Put after the last outcome by ``close``."""


class Recorder(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], object], pending: int = PENDING,
                 hold: float = HOLD) -> None:
        self._flush = flush
        self._hold = hold
        self._queue: queue.Queue[T | _Stop] = queue.Queue(pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()  # cuts a hold short

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, hold: float | None = None) -> None:
        with self._lock:
            if hold is not None:
                self._hold = hold
            if not self.running:
                self._closing.clear()
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="tocsin-recorder")
                self._thread.start()

    def submit(self, outcome: T) -> None:
        """Record later, in order; inline when the recorder is not running."""
        if not self.running:
            self._record([outcome])
            return
        self._queue.put(outcome)  # blocks while PENDING outcomes wait

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Record what is pending, then stop; False if that took longer than ``timeout``."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return True
        self._closing.set()
        self._queue.put(_Stop())
        thread.join(timeout)
        if thread.is_alive():
            log.error("recorder.close_timed_out", pending=self._queue.qsize())
            return False
        late = []  # submitted while it was stopping: record them now
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not isinstance(item, _Stop):
                late.append(item)
        if late:
            self._record(late)
        return True

    def _record(self, batch: list[T]) -> None:
        pause_point("record.pending")  # the runs' messages are already acknowledged
        try:
            self._flush(batch)
        except Exception:  # the thread outlives any one batch; the reaper backs up
            log.error("execution.record_crashed", exc_info=True, outcomes=len(batch))

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if isinstance(first, _Stop):
                return
            # Wait on an event rather than the queue: one wake-up per batch, not per run.
            self._closing.wait(self._hold)
            batch, stop = [first], False
            while not stop:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stop = True
                else:
                    batch.append(item)
            self._record(batch)
            if stop:
                return
