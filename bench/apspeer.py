"""The APScheduler 3 peer: N cron jobs in its SQLAlchemy job store on PostgreSQL, each
publishing the same Celery task. Run as a process: `python -m bench.apspeer URL N`."""

from __future__ import annotations

import signal
import sys
import threading
import time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from celery import Celery

from bench.beatapp import BROKER

celery_app = Celery("apspeer", broker=BROKER)
celery_app.conf.task_default_queue = "tocsin"


def publish(execution_id: str) -> None:
    celery_app.send_task("tocsin.execute", args=[execution_id], queue="tocsin")


def main(url: str, n: int) -> None:
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url)},
        executors={"default": ThreadPoolExecutor(20)},
        # Fair configuration: with the default 1 s grace most of a burst misfires.
        job_defaults={"misfire_grace_time": 3600, "coalesce": True, "max_instances": 1},
        timezone="UTC",
    )
    scheduler.start(paused=True)
    for i in range(n):
        scheduler.add_job(publish, CronTrigger(minute="*", timezone="UTC"), args=[f"a{i}"],
                          id=f"job{i}", replace_existing=True)
    print("seeded", flush=True)
    scheduler.resume()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    while not done.wait(1):
        pass
    scheduler.shutdown(wait=False)
    time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
