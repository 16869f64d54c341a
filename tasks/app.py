"""The Celery app, configured from the same TOCSIN_* settings as the scheduler."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    celeryd_after_setup,
    worker_process_init,
    worker_ready,
)

from scheduler import gcfreeze
from scheduler.broker.publish import QUEUE, SYNC_QUEUE, VISIBILITY_TIMEOUT
from scheduler.config import get_settings
from scheduler.logs import format_handlers

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
    # Queues are taken in the order consumed (the synchronous lane first), not round
    # robin: a synchronous run waits for a free slot, never behind a backlog.
    broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT,
                              "queue_order_strategy": "priority"},
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)


@celeryd_after_setup.connect
def _sync_lane_first(sender: Any, instance: Any, **_: Any) -> None:
    """Every worker takes the synchronous lane, first, whatever ``-Q`` it was given
    (``tocsin worker``, or ``celery -A tasks.app worker -Q tocsin`` as before)."""
    queues = instance.app.amqp.queues
    queues.select_add(SYNC_QUEUE)
    queues.select([SYNC_QUEUE, *(name for name in queues.consume_from if name != SYNC_QUEUE)])


@after_setup_logger.connect
def _fields_in_logs(logger: Any, **_: Any) -> None:
    """The worker's log lines carry their fields (``execution.finished status=…``)
    however it was started; Celery's own format would print the event name alone."""
    format_handlers(logger, settings.log_format)


@worker_process_init.connect
def _settle(**_: Any) -> None:
    """Each prefork child freezes its start-up heap (``scheduler.gcfreeze``); its
    outcome recorder starts too (``tasks.outcomes``)."""
    gcfreeze.settle()


@worker_ready.connect
def _builder(**_: Any) -> None:
    """The worker's main process builds deployments (``tasks.deploy.builder``); its
    children run executions."""
    from tasks.deploy.builder import start_in_process

    start_in_process(settings)
