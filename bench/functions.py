"""Functions the benchmarks run (importable as bench.functions)."""

from __future__ import annotations


def trivial(context):
    """As little work as a function can do: the cost measured is Tocsin's."""
    return context.res.text("ok")


def sleepy(context):
    """Busy for ``?seconds=`` (the backlog of the fairness scenario)."""
    import time

    time.sleep(float(context.req.query.get("seconds", "0.1")))
    return context.res.text("ok")
