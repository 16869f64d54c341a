"""A worker process's bookkeeping thread: what a run asks for but need not wait for.

Two chores, batched off the run's path:
* **forget**: tell the broker's hand-over record that messages were taken (after their
  claim, so a row the relay sees as not held is never one a worker is about to start),
  every ``FORGET_EVERY`` seconds rather than one round trip per run. An id removed late
  (or never, if the process dies first) only looks held for longer; the relay
  republishes only rows still ``waiting`` after ``TOCSIN_REQUEUE_AFTER``, and the record
  trims itself.
* **refill**: have a project's held runs handed over at once (a refill is a few
  statements and a publish, and was a fifth of a backlog's drain time when runs waited
  for it). Requests for one project coalesce (the smallest ``at_least`` wins); one lost
  with the process is the relay's to do.

The thread starts with the first chore and outlives any failure of one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from scheduler.logs import first_line, get_logger

log = get_logger(__name__)

FORGET_EVERY = 0.25  # seconds between the hand-over record's batched removals


class Bookkeeper:
    """``forget(ids)`` removes ids from the hand-over record (None: there is none);
    ``refill(project_id, at_least)`` hands a project's held runs over."""

    def __init__(self, forget: Callable[[list[str]], None] | None,
                 refill: Callable[[str, int], None]) -> None:
        self._forget = forget
        self._refill = refill
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._forgotten: list[str] = []
        self._refills: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    def forget(self, execution_id: str) -> None:
        if self._forget is None:
            return
        with self._lock:
            self._forgotten.append(execution_id)
            self._start()

    def refill(self, project_id: str, at_least: int = 1) -> None:
        with self._lock:
            self._refills[project_id] = min(at_least, self._refills.get(project_id, at_least))
            self._start()
        self._wake.set()

    def _start(self) -> None:  # under self._lock
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="tocsin-bookkeeping")
            self._thread.start()

    def _loop(self) -> None:
        forgot = time.monotonic()
        while True:
            self._wake.wait(FORGET_EVERY)
            self._wake.clear()
            with self._lock:
                asked, self._refills = self._refills, {}
            for project_id, at_least in sorted(asked.items()):
                try:
                    self._refill(project_id, at_least)
                except Exception:  # the thread outlives any one refill; the relay backs up
                    log.error("admission.refill_crashed", exc_info=True, project_id=project_id)
            if time.monotonic() - forgot >= FORGET_EVERY:
                forgot = time.monotonic()
                self._forget_batch()

    def _forget_batch(self) -> None:
        with self._lock:
            batch, self._forgotten = self._forgotten, []
        if not batch or self._forget is None:
            return
        try:
            self._forget(batch)
        except Exception as exc:  # a stale record only delays a requeue; never fail a run
            log.warning("ledger.forget_failed", executions=len(batch), error=first_line(exc))
