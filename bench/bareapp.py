"""Bare Celery for the throughput baseline: a no-op task with one Redis write, under the
worker settings Tocsin's own app uses (late ack, prefetch 1, lost workers requeue)."""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("BENCH_BARE_REDIS", "redis://127.0.0.1:6379/11")

app = Celery("benchbare", broker=BROKER)
app.conf.update(task_default_queue="bare", task_acks_late=True,
                task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_ignore_result=True, worker_hijack_root_logger=False,
                worker_send_task_events=False)
_client: redis.Redis | None = None


@app.task(name="bench.noop", ignore_result=True)
def noop(i: int) -> None:
    """One Redis write per task, as a Tocsin run records its outcome once."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    _client.rpush("bare:done", time.time())
