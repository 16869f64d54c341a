"""Runtimes: how a function is actually run. Each returns an Outcome, never raises."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Outcome:
    status_code: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    logs: str = ""
    errors: str = ""
    failed: bool = False
    duration: float = 0.0
    timed_out: bool = False


class FunctionTimeout(BaseException):
    """Raised into a function at its timeout. A BaseException, so user code's
    ``except Exception`` cannot swallow it (``except BaseException`` still can: only
    a runner process that is killed is a hard limit)."""


def run_with_timeout(fn: Callable[[], T], timeout: float) -> T:
    """Run ``fn`` and give up after ``timeout`` seconds.

    In a worker process's main thread (Celery prefork or solo) a timer signal
    interrupts the function itself, so the worker is free again at once. In
    any other thread (the embedded default) the function runs in a helper
    thread that is abandoned on timeout.
    """
    if threading.current_thread() is threading.main_thread():
        def _alarm(_signum: int, _frame: Any) -> None:
            raise FunctionTimeout()

        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict[str, Any] = {}

    def _target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=_target, daemon=True, name="tocsin-function")
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise FunctionTimeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


def timed(fn: Callable[[], Outcome]) -> Outcome:
    started = time.perf_counter()
    outcome = fn()
    outcome.duration = round(time.perf_counter() - started, 6)
    return outcome
