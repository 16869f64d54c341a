"""The Celery app the RedBeat peer runs (`celery -A bench.beatapp beat -S redbeat...`)."""

from __future__ import annotations

import os

from celery import Celery

BROKER = os.environ.get("BENCH_PEER_REDIS", "redis://127.0.0.1:6379/12")

app = Celery("benchbeat", broker=BROKER)
app.conf.update(
    task_default_queue="tocsin",
    redbeat_redis_url=BROKER,
    redbeat_lock_timeout=int(os.environ.get("BENCH_REDBEAT_LOCK_TIMEOUT", "10")),
    beat_max_loop_interval=1,
    timezone="UTC",
)
