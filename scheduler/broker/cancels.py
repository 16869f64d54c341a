"""Telling workers to stop a run: the API cancels the row, then announces its id here.

The row decides, as everywhere: ``store.executions.cancel`` has already failed it, so
an announcement lost (a worker reconnecting to Redis) costs only the runner's time
until its timeout, never a wrong status. Each worker process listens on one Redis
pub/sub channel and stops the runner of a run it holds (``tasks.cancel``); processes
that share the API's process (``tocsin up``'s embedded broker) are told directly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

from scheduler.logs import first_line, get_logger

log = get_logger(__name__)

CHANNEL = "tocsin:cancel"
_local: list[Callable[[str], None]] = []


def redis_url(broker_url: str, result_backend_url: str | None) -> str | None:
    """The Redis that carries announcements (None: in-process only)."""
    for url in (result_backend_url, broker_url):
        if url and url.startswith(("redis://", "rediss://")):
            return url
    return None


def announce(url: str | None, execution_id: str) -> None:
    """Ask whichever worker runs ``execution_id`` to stop it."""
    for listener in list(_local):
        listener(execution_id)
    if url is not None:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            client.publish(CHANNEL, execution_id)
        finally:
            client.close()


def listen(url: str | None, on_cancel: Callable[[str], None]) -> None:
    """Call ``on_cancel(execution_id)`` for every announcement, from a daemon thread
    that reconnects through Redis restarts (and in this process, directly)."""
    _local.append(on_cancel)
    if url is None:
        return
    threading.Thread(target=_loop, args=(url, on_cancel), name="tocsin-cancels",
                     daemon=True).start()


def _loop(url: str, on_cancel: Callable[[str], None]) -> None:
    while True:
        try:
            client = redis.Redis.from_url(url, socket_keepalive=True, health_check_interval=30)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(CHANNEL)
            for message in pubsub.listen():
                data = message.get("data")
                if isinstance(data, bytes):
                    on_cancel(data.decode())
        except Exception as exc:  # Redis restarted or unreachable: listen again
            log.warning("cancels.listen_failed", error=first_line(exc))
            time.sleep(1)
