"""The short-lived channel a synchronous caller waits on for its execution's response.

Responses of synchronous executions are handed over here and never stored in
the database (Appwrite stores no response bodies).

Rules:

* Every Redis client states its timeouts. A blocking read (``BLPOP``) runs on a
  connection whose socket timeout is longer than the wait itself: redis-py 8
  made 5 s the default socket timeout, which turned every synchronous call
  over 5 s into a ``TimeoutError``.
* Waiting never holds a thread: the API awaits results on an asyncio client.
* A result nobody waits for is dropped (in-process) or expires after
  ``RESULT_TTL`` (Redis); memory does not grow with abandoned calls.
* A synchronous run's credentials (the caller's ``Authorization``, ``Cookie``, a
  user's JWT) travel beside it the same way, never in its row: ``stash`` before the
  hand-over, ``take_stash`` once by the worker that claimed it (gone after, or after
  ``RESULT_TTL``). A broker restart loses them with the caller's wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any, NotRequired, Protocol, TypedDict

RESULT_TTL = 120  # seconds a result waits for its caller before Redis drops it
OP_TIMEOUT = 5.0  # socket timeout of ordinary (non-blocking) Redis commands, s
CONNECT_TIMEOUT = 5.0
BLOCK_MARGIN = 10.0  # a blocking read's socket timeout exceeds its own wait by this, s


class HeaderEntry(TypedDict):
    name: str
    value: str


class SyncResult(TypedDict):
    """What a worker hands a synchronous caller: the function's response and the run's
    end. ``body`` is base64 (a function may answer bytes)."""

    status: str
    statusCode: int
    body: str
    headers: list[HeaderEntry]
    logs: str
    errors: str
    duration: float
    timedOut: NotRequired[bool]  # cut off at the synchronous limit: the API answers 408


class ResultChannel(Protocol):
    def expect(self, execution_id: str) -> None:
        """A caller is about to wait for ``execution_id`` (call before handing it over)."""

    def post(self, execution_id: str, payload: SyncResult) -> None: ...

    def wait(self, execution_id: str, timeout: float) -> SyncResult | None: ...

    async def wait_async(self, execution_id: str, timeout: float) -> SyncResult | None: ...

    def stash(self, execution_id: str, secrets: dict[str, str]) -> None:
        """Hold a run's credentials for its worker (never written to the database)."""

    def take_stash(self, execution_id: str) -> dict[str, str]:
        """The run's credentials, once; {} when there are none (or they expired)."""
        ...


class RedisResults:
    def __init__(self, url: str) -> None:
        import redis

        self._url = url
        self._redis = redis.Redis.from_url(url, socket_timeout=OP_TIMEOUT,
                                           socket_connect_timeout=CONNECT_TIMEOUT)
        self._async: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def _key(execution_id: str) -> str:
        return f"tocsin:result:{execution_id}"

    def expect(self, execution_id: str) -> None:
        """Nothing to do: the list is created by the worker and expires on its own."""

    def post(self, execution_id: str, payload: SyncResult) -> None:
        key = self._key(execution_id)
        pipe = self._redis.pipeline()
        pipe.rpush(key, json.dumps(payload))
        pipe.expire(key, RESULT_TTL)
        pipe.execute()

    def stash(self, execution_id: str, secrets: dict[str, str]) -> None:
        if secrets:
            self._redis.set(f"tocsin:secret:{execution_id}", json.dumps(secrets),
                            ex=RESULT_TTL)

    def take_stash(self, execution_id: str) -> dict[str, str]:
        got = self._redis.getdel(f"tocsin:secret:{execution_id}")
        return dict(json.loads(got)) if got else {}

    def wait(self, execution_id: str, timeout: float) -> SyncResult | None:
        import redis

        timeout = max(timeout, 0.01)
        with redis.Redis.from_url(self._url, socket_timeout=timeout + BLOCK_MARGIN,
                                  socket_connect_timeout=CONNECT_TIMEOUT) as client:
            got = client.blpop([self._key(execution_id)], timeout=timeout)
        return json.loads(got[1]) if got else None

    def _async_client(self, block: float) -> Any:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # One pool per event loop; each BLPOP takes its own connection from it.
            self._async = aioredis.Redis.from_url(
                self._url, socket_timeout=block + BLOCK_MARGIN,
                socket_connect_timeout=CONNECT_TIMEOUT, max_connections=None)
            self._async_loop = loop
        return self._async

    async def wait_async(self, execution_id: str, timeout: float) -> SyncResult | None:
        timeout = max(timeout, 0.01)
        # The pool's socket timeout is fixed when it is made: size it for the longest
        # wait the API does (the synchronous limit, at most 30 s, plus a margin).
        client = self._async_client(max(timeout, 60.0))
        got = await client.blpop([self._key(execution_id)], timeout=timeout)
        return json.loads(got[1]) if got else None


class LocalResults:
    """In-process channel for the embedded default (`tocsin up`).

    Only an expected execution's result is kept, and only until its caller
    takes it or gives up; a result posted after the caller gave up is dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # execution id -> (deadline on the monotonic clock, result or None yet)
        self._slots: dict[str, list[Any]] = {}
        self._events: dict[str, threading.Event] = {}
        self._waiters: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = {}
        self._secrets: dict[str, tuple[float, dict[str, str]]] = {}

    def stash(self, execution_id: str, secrets: dict[str, str]) -> None:
        if not secrets:
            return
        now = time.monotonic()
        with self._lock:
            for eid in [e for e, (deadline, _) in self._secrets.items() if deadline < now]:
                del self._secrets[eid]
            self._secrets[execution_id] = (now + RESULT_TTL, dict(secrets))

    def take_stash(self, execution_id: str) -> dict[str, str]:
        with self._lock:
            got = self._secrets.pop(execution_id, None)
        return got[1] if got and got[0] >= time.monotonic() else {}

    def expect(self, execution_id: str) -> None:
        with self._lock:
            self._expire(time.monotonic())
            self._slots[execution_id] = [time.monotonic() + RESULT_TTL, None]
            self._events[execution_id] = threading.Event()

    def _expire(self, now: float) -> None:
        for eid in [e for e, (deadline, _) in self._slots.items() if deadline < now]:
            self._forget(eid)

    def _forget(self, execution_id: str) -> None:
        self._slots.pop(execution_id, None)
        self._events.pop(execution_id, None)
        self._waiters.pop(execution_id, None)

    def pending(self) -> int:
        """How many results are held (for tests and metrics)."""
        with self._lock:
            return len(self._slots)

    def post(self, execution_id: str, payload: SyncResult) -> None:
        with self._lock:
            slot = self._slots.get(execution_id)
            if slot is None:
                return  # nobody waits (or the caller gave up): drop it
            slot[1] = payload
            self._events[execution_id].set()
            waiter = self._waiters.get(execution_id)
        if waiter is not None:
            loop, future = waiter
            loop.call_soon_threadsafe(_resolve, future)

    def _take(self, execution_id: str) -> SyncResult | None:
        with self._lock:
            slot = self._slots.get(execution_id)
            self._forget(execution_id)
        return slot[1] if slot else None

    def wait(self, execution_id: str, timeout: float) -> SyncResult | None:
        with self._lock:
            if execution_id not in self._slots:
                self._slots[execution_id] = [time.monotonic() + RESULT_TTL, None]
                self._events[execution_id] = threading.Event()
            event = self._events[execution_id]
        event.wait(timeout)
        return self._take(execution_id)

    async def wait_async(self, execution_id: str, timeout: float) -> SyncResult | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if execution_id not in self._slots:
                self._slots[execution_id] = [time.monotonic() + RESULT_TTL, None]
                self._events[execution_id] = threading.Event()
            if self._slots[execution_id][1] is not None:
                future.set_result(None)
            else:
                self._waiters[execution_id] = (loop, future)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, timeout)
        return self._take(execution_id)


_local = LocalResults()


def make_results(url: str | None) -> ResultChannel:
    return RedisResults(url) if url else _local


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
