"""The Celery app, configured from the same TOCSIN_* settings as the scheduler."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from scheduler import heap
from scheduler.config import get_settings
from scheduler.publish import QUEUE, VISIBILITY_TIMEOUT

settings = get_settings()

app = Celery("tocsin", broker=settings.broker_url, include=["tasks.execute"])
app.conf.update(
    task_default_queue=QUEUE,
    # A message is acknowledged only after the execution is recorded, and a
    # worker lost mid-run hands its message back; the row's atomic claim
    # makes the redelivery harmless.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    # Backstop only: the task enforces each function's own timeout (<= 900 s).
    task_time_limit=960,
    broker_connection_retry_on_startup=True,
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)


@worker_process_init.connect
def _settle(**_: Any) -> None:
    """Each prefork child freezes its start-up heap (``scheduler.heap``)."""
    heap.settle()
