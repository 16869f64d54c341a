"""Runtimes: how a function is actually run. Each returns an Outcome, never raises."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.runner.context import Request

__all__ = ["Outcome", "Request", "timed"]


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


def timed(fn: Callable[[], Outcome]) -> Outcome:
    started = time.perf_counter()
    outcome = fn()
    outcome.duration = round(time.perf_counter() - started, 6)
    return outcome
