"""The in-process broker of `tocsin up`: a queue and worker threads, no services.

It implements the scheduler's Publisher protocol, so the dispatcher, relay
and API hand executions to it exactly as they would to Celery; the same
execution task (claim, run, record) does the work.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from scheduler.logs import get_logger
from tasks.execute import run_execution
from tasks.worker_process import use_publisher

log = get_logger(__name__)


class EmbeddedBroker:
    def __init__(self, workers: int = 4) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name=f"tocsin-worker-{i}",
                                          daemon=True) for i in range(workers)]
        self._started = False
        self._lock = threading.Lock()
        self._held: set[str] = set()

    def start(self) -> None:
        if not self._started:
            use_publisher(self)  # a run's claim hands its project's held runs over here
            for thread in self._threads:
                thread.start()
            self._started = True

    def publish(self, execution_ids: Sequence[str], sync: bool = False) -> None:
        with self._lock:
            self._held.update(execution_ids)
        for execution_id in execution_ids:
            self._queue.put(execution_id)

    def held(self, execution_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return self._held.intersection(execution_ids)

    def forget(self, execution_ids: Sequence[str]) -> None:
        with self._lock:
            self._held.difference_update(execution_ids)

    def trim(self) -> None:
        pass  # nothing outlives the process

    def ping(self) -> None:
        if not self._started:
            raise RuntimeError("embedded workers are not running")

    def close(self) -> None:
        """Stop taking work; executions still queued stay `waiting` and run after restart."""
        if self._started:
            for _ in self._threads:
                self._queue.put(None)
            for thread in self._threads:
                thread.join(timeout=5)
            self._started = False

    def _work(self) -> None:
        while True:
            execution_id = self._queue.get()
            if execution_id is None:
                return
            try:
                run_execution(execution_id)
            except Exception:
                log.error("execution.crashed", exc_info=True, execution_id=execution_id)
            finally:
                self.forget([execution_id])
