"""What a run ended with: the shape every runtime returns (a runner's answer, an HTTP
function's response, a crash or a timeout), never an exception.

It lives with the runners, the lowest floor of ``tasks``, so that the runtimes above
build on it and the pool below never imports a runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


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
    # The function answered (its own response, whatever the status), rather than
    # raising, crashing or timing out: a failed run that responded is a 5xx answer.
    responded: bool = False


def timed(fn: Callable[[], Outcome]) -> Outcome:
    """Runs ``fn`` and records its wall time on the outcome it returns."""
    started = time.perf_counter()
    outcome = fn()
    outcome.duration = round(time.perf_counter() - started, 6)
    return outcome
