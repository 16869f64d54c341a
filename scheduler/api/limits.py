"""Per-project caps on what a caller may hold open in this API process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from scheduler.api.errors import RATE_LIMITED, ApiError


def rate_limited(what: str) -> ApiError:
    return ApiError(RATE_LIMITED, f"Rate limit for the current endpoint has been exceeded: {what}. "
                    "Please try again after some time, or use an asynchronous execution.")


class SyncGate:
    """At most ``limit`` synchronous executions waiting per project.

    A waiting synchronous call costs no thread (the wait is async) but does hold
    a connection and a result slot; one project must not take them all.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    @contextmanager
    def slot(self, project_id: str) -> Iterator[None]:
        with self._lock:
            held = self._held.get(project_id, 0)
            if held >= self.limit:
                raise rate_limited(
                    f"{self.limit} synchronous executions are already running for this "
                    "project (TOCSIN_SYNC_CONCURRENCY)")
            self._held[project_id] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._held[project_id] - 1
                if left:
                    self._held[project_id] = left
                else:
                    del self._held[project_id]
