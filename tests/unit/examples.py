"""How many examples a hypothesis test draws."""

from __future__ import annotations

import os


def examples(n: int) -> int:
    """All ``n``, or a tenth under mutation testing: mutmut (which sets
    MUTANT_UNDER_TEST) reruns a module's tests for each of hundreds of mutants, and a
    mutant a tenth of the examples cannot kill is reported as surviving, not hidden."""
    return max(10, n // 10) if os.environ.get("MUTANT_UNDER_TEST") else n
