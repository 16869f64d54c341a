"""A worker process's ear for cancels: the runner of a cancelled run is stopped at once.

Started once per process, with its first execution (prefork children each listen for
the runs they hold). ``broker.cancels`` carries the announcements; the row was failed
before they were sent, so the killed run's own outcome finds nothing to record.
"""

from __future__ import annotations

import threading

from scheduler.broker import cancels
from scheduler.config import Settings
from scheduler.logs import get_logger
from tasks.runtimes import python as python_runtime

log = get_logger(__name__)

_started = threading.Lock()
_listening: list[bool] = []


def _stop(execution_id: str) -> None:
    if python_runtime.POOL.cancel(execution_id):
        log.info("execution.cancelled", execution_id=execution_id)


def listen(settings: Settings) -> None:
    """Listen in this process (once; later calls do nothing)."""
    with _started:
        if _listening:
            return
        _listening.append(True)
    cancels.listen(cancels.redis_url(settings.broker_url, settings.result_backend_url), _stop)
