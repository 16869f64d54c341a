"""Runtimes: how a function is actually run (``python``: a warm confined runner;
``http``: one request to the function's URL). Each returns an Outcome, never raises.

Runtimes build on ``tasks.runner`` (the runner processes and the Outcome they report);
nothing in ``tasks.runner`` imports a runtime.
"""

from __future__ import annotations

from tasks.runner.context import Request
from tasks.runner.outcome import Outcome, timed

__all__ = ["Outcome", "Request", "timed"]
