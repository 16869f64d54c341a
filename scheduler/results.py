"""The short-lived channel a synchronous caller waits on for its execution's response.

Responses of synchronous executions are handed over here and never stored in
the database (Appwrite stores no response bodies).
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any, Protocol

RESULT_TTL = 120  # seconds a result waits for its caller before Redis drops it


class ResultChannel(Protocol):
    def post(self, execution_id: str, payload: dict[str, Any]) -> None: ...

    def wait(self, execution_id: str, timeout: float) -> dict[str, Any] | None: ...


class RedisResults:
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5)

    @staticmethod
    def _key(execution_id: str) -> str:
        return f"tocsin:result:{execution_id}"

    def post(self, execution_id: str, payload: dict[str, Any]) -> None:
        key = self._key(execution_id)
        pipe = self._redis.pipeline()
        pipe.rpush(key, json.dumps(payload))
        pipe.expire(key, RESULT_TTL)
        pipe.execute()

    def wait(self, execution_id: str, timeout: float) -> dict[str, Any] | None:
        got = self._redis.blpop([self._key(execution_id)], timeout=max(timeout, 0.01))
        return json.loads(got[1]) if got else None


class LocalResults:
    """In-process channel for the embedded default (`tocsin up`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue[dict[str, Any]]] = {}

    def _queue(self, execution_id: str) -> queue.Queue[dict[str, Any]]:
        with self._lock:
            return self._queues.setdefault(execution_id, queue.Queue(maxsize=1))

    def post(self, execution_id: str, payload: dict[str, Any]) -> None:
        self._queue(execution_id).put(payload)

    def wait(self, execution_id: str, timeout: float) -> dict[str, Any] | None:
        try:
            return self._queue(execution_id).get(timeout=timeout)
        except queue.Empty:
            return None
        finally:
            with self._lock:
                self._queues.pop(execution_id, None)


_local = LocalResults()


def make_results(url: str | None) -> ResultChannel:
    return RedisResults(url) if url else _local
