"""Handing executions to Celery by task name; ``scheduler`` never imports ``tasks``.

On Redis the messages are written in Celery's own protocol (v2, the envelope
kombu's Redis transport uses) in pipelines: ~30,000 messages/s against
~1,500/s for ``apply_async`` in a loop, which decides the burst target. A test
runs a real ``celery worker`` on these messages. Other brokers go through
kombu.

What the broker still holds. With each message the publisher records its
execution id in a sorted set beside the queue (``tocsin:held``, score = hand-over
time), in the same ``MULTI`` as the push; a worker removes the id once it has
tried to claim the row. The relay asks this set before republishing a row that
was handed over long ago: a message still held (queued, or taken by a worker that
has not reached the claim) is never sent twice, and a broker that lost its data
(a Redis restart without persistence) lost the set with it, so every row it
held is republished. Ids older than the broker's visibility timeout are trimmed:
by then the broker has redelivered a message a dead worker had taken.

Synchronous runs have a lane of their own (``SYNC_QUEUE``): workers take from it
before the main queue (kombu's ``priority`` queue order, ``tasks.app``), so a caller
waits for a free worker slot, never behind a backlog of asynchronous runs. A run the
relay republishes goes to the main queue (its caller has long been answered).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

TASK_NAME = "tocsin.execute"
QUEUE = "tocsin"
SYNC_QUEUE = "tocsin-sync"  # synchronous runs: taken first (see the module's docstring)
# How long a message taken by a worker stays unacknowledged before the broker hands it
# out again (kombu's Redis transport); longer than the longest run (900 s + margin).
VISIBILITY_TIMEOUT = 3600
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


class Publisher(Protocol):
    def publish(self, execution_ids: Sequence[str], sync: bool = False) -> None:
        """Hand the runs to workers; ``sync``: in the synchronous lane."""

    def held(self, execution_ids: Sequence[str]) -> set[str] | None:
        """Which of these the broker still holds a message for; None: cannot tell."""

    def forget(self, execution_ids: Sequence[str]) -> None:
        """A worker has taken these (and tried to claim them)."""

    def trim(self) -> None:
        """Drop hand-over records older than the visibility timeout."""

    def ping(self) -> None:
        """Raise if the broker cannot be reached (readiness)."""

    def close(self) -> None: ...


def celery_message(execution_id: str, origin: str, queue: str = QUEUE) -> bytes:
    body = json.dumps([[execution_id], {}, _EMBED]).encode()
    envelope = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": TASK_NAME, "id": execution_id, "shadow": None,
            "eta": None, "expires": None, "group": None, "group_index": None,
            "retries": 0, "timelimit": [None, None], "root_id": execution_id,
            "parent_id": None, "argsrepr": repr([execution_id]), "kwargsrepr": "{}",
            "origin": origin, "ignore_result": True, "replaced_task_nesting": 0,
            "stamped_headers": None, "stamps": {},
        },
        "properties": {
            "correlation_id": execution_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(envelope).encode()


_SAFE_ID = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ._-")


class MessageFactory:
    """The same envelope as ``celery_message``, from a template: ~10x cheaper per message,
    which matters when a burst publishes 100,000 of them. Ids that would need JSON
    escaping (never ours) take the slow path."""

    def __init__(self, origin: str, queue: str = QUEUE) -> None:
        self._slow = (origin, queue)
        marker = "00000000000000000000"
        template = celery_message(marker, origin, queue).decode()
        encoded_body = base64.b64encode(json.dumps([[marker], {}, _EMBED]).encode()).decode()
        tag = json.loads(template)["properties"]["delivery_tag"]
        template = template.replace(encoded_body, "\x00BODY\x00").replace(tag, "\x00TAG\x00")
        self._parts = template.split(marker)
        self._counter = 0
        self._prefix = uuid.uuid4().hex[:16]

    def __call__(self, execution_id: str) -> bytes:
        if not set(execution_id) <= _SAFE_ID:
            return celery_message(execution_id, *self._slow)
        body = base64.b64encode(
            b'[["' + execution_id.encode() + b'"], {}, {"callbacks": null, "errbacks": null, '
            b'"chain": null, "chord": null}]').decode()
        self._counter += 1
        tag = f"{self._prefix}-{self._counter:016x}"
        text = execution_id.join(self._parts)
        return text.replace("\x00BODY\x00", body, 1).replace("\x00TAG\x00", tag, 1).encode()


def _lanes(queue: str) -> dict[bool, tuple[str, MessageFactory]]:
    """(queue, message factory) for asynchronous (False) and synchronous (True) runs."""
    origin = f"{socket.gethostname()}:{os.getpid()}"
    return {False: (queue, MessageFactory(origin, queue)),
            True: (SYNC_QUEUE, MessageFactory(origin, SYNC_QUEUE))}


class RedisPublisher:
    def __init__(self, url: str, queue: str = QUEUE, pipeline_size: int = 1000) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
        self._queue = queue
        self._held = f"{queue}:held"
        self._size = pipeline_size
        self._lanes = _lanes(queue)

    def publish(self, execution_ids: Sequence[str], sync: bool = False) -> None:
        now = time.time()
        queue, message = self._lanes[sync]
        for start in range(0, len(execution_ids), self._size):
            chunk = execution_ids[start : start + self._size]
            # MULTI: the message and its hand-over record exist together or not at all.
            pipe = self._redis.pipeline(transaction=True)
            # LPUSH + worker BRPOP: first in, first out, as kombu does.
            pipe.lpush(queue, *(message(i) for i in chunk))
            pipe.zadd(self._held, dict.fromkeys(chunk, now))
            pipe.execute()

    def held(self, execution_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(execution_ids), self._size):
            chunk = list(execution_ids[start : start + self._size])
            scores = self._redis.zmscore(self._held, chunk)
            found.update(i for i, score in zip(chunk, scores, strict=True) if score is not None)
        return found

    def forget(self, execution_ids: Sequence[str]) -> None:
        if execution_ids:
            self._redis.zrem(self._held, *execution_ids)

    def trim(self) -> None:
        self._redis.zremrangebyscore(self._held, "-inf", time.time() - VISIBILITY_TIMEOUT)

    def ping(self) -> None:
        self._redis.ping()

    def close(self) -> None:
        self._redis.close()


class AsyncRedisPublisher:
    """``RedisPublisher.publish`` for the API's event loop (redis.asyncio): the same
    messages and hand-over records, in the same ``MULTI``."""

    def __init__(self, url: str, queue: str = QUEUE) -> None:
        import redis.asyncio

        self._redis = redis.asyncio.Redis.from_url(url, socket_timeout=10,
                                                   socket_connect_timeout=5)
        self._queue = queue
        self._held = f"{queue}:held"
        self._lanes = _lanes(queue)

    async def publish(self, execution_ids: Sequence[str], sync: bool = False) -> None:
        queue, message = self._lanes[sync]
        pipe = self._redis.pipeline(transaction=True)
        pipe.lpush(queue, *(message(i) for i in execution_ids))
        pipe.zadd(self._held, dict.fromkeys(execution_ids, time.time()))
        await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


class KombuPublisher:
    """Any broker Celery supports (and the in-process one of ``tocsin up``)."""

    def __init__(self, app: object, queue: str = QUEUE) -> None:
        self._app = app
        self._queue = queue

    def publish(self, execution_ids: Sequence[str], sync: bool = False) -> None:
        queue = SYNC_QUEUE if sync else self._queue
        with self._app.producer_or_acquire() as producer:  # type: ignore[attr-defined]
            for eid in execution_ids:
                self._app.send_task(  # type: ignore[attr-defined]
                    TASK_NAME, args=[eid], task_id=eid, queue=queue, producer=producer,
                    ignore_result=True,
                )

    def ping(self) -> None:
        with self._app.connection_for_write() as conn:  # type: ignore[attr-defined]
            conn.ensure_connection(max_retries=1)

    def held(self, execution_ids: Sequence[str]) -> None:
        return None  # AMQP and others keep no such record: the relay falls back to age

    def forget(self, execution_ids: Sequence[str]) -> None:
        pass

    def trim(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_publisher(broker_url: str, app: object | None = None) -> Publisher:
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisPublisher(broker_url)
    if app is None:
        from celery import Celery

        app = Celery("tocsin-publisher", broker=broker_url)
    return KombuPublisher(app)
