"""Functions the benchmarks run (importable as bench.functions)."""

from __future__ import annotations


def trivial(context):
    """As little work as a function can do: the cost measured is Tocsin's."""
    return context.res.text("ok")
