"""A worker process's outcome recorder: an asynchronous run's outcome is committed off
the run's path, while Celery hands the process its next message.

Why this gives nothing away (issue #31: the record was a third of a run's time in the
worker, and the worker's slot waited for it):
* A run's message is spent once its claim is committed: a redelivery finds the row
  ``processing`` and claims nothing. So acknowledging the message before the outcome
  is committed loses nothing that acknowledging after would have saved: a process
  killed in between leaves the row ``processing`` either way, and the reaper fails it
  as "worker lost" after its deadline. Nothing runs twice.
* The record itself is the same (the fast statement, else the reference transaction
  retried through a database outage), in the order the runs ended.
* At most ``PENDING`` outcomes wait; a run that ends while the recorder is that far
  behind waits for room, so a slow database slows the worker rather than piling
  outcomes up in memory.
* A process that ends on purpose (warm shutdown, a recycled child) records what is
  pending first (``close``, from Celery's ``worker_process_shutdown``).
* Synchronous runs do not come here: they record before their answer is posted, so a
  caller that reads its execution right after the answer sees it final.

Started only in Celery's prefork children (``tasks.app``); elsewhere (``tocsin up``,
direct calls) ``submit`` records inline.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from scheduler.faults import pause_point
from scheduler.logs import get_logger

log = get_logger(__name__)

PENDING = 8  # outcomes that may wait to be recorded before a run waits for room
CLOSE_TIMEOUT = 120.0  # seconds a shutdown waits for pending records (outage retries)

_STOP = object()


class Recorder:
    def __init__(self, pending: int = PENDING) -> None:
        self._queue: queue.Queue[Callable[[], object] | object] = queue.Queue(pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if not self.running:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="tocsin-recorder")
                self._thread.start()

    def submit(self, record: Callable[[], object]) -> None:
        """Record later, in order; inline when the recorder is not running."""
        if not self.running:
            record()
            return
        self._queue.put(record)  # blocks while PENDING records wait

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Record what is pending, then stop; False if that took longer than ``timeout``."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None or not thread.is_alive():
            return True
        self._queue.put(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            log.error("recorder.close_timed_out", pending=self._queue.qsize())
            return False
        while not self._queue.empty():  # submitted while it was stopping: record them now
            self._run(self._queue.get_nowait())
        return True

    def _run(self, record: Callable[[], object] | object) -> None:
        if record is _STOP:
            return
        pause_point("record.pending")  # the run's message is already acknowledged
        try:
            record()  # type: ignore[operator]
        except Exception:  # the thread outlives any one record; the reaper backs up
            log.error("execution.record_crashed", exc_info=True)

    def _loop(self) -> None:
        while (record := self._queue.get()) is not _STOP:
            self._run(record)


RECORDER = Recorder()
