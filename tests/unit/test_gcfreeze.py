"""scheduler.gcfreeze: start-up objects leave the collector's view; later cycles are still
collected."""

from __future__ import annotations

import gc
import weakref

from scheduler import gcfreeze


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_settle_freezes_what_exists_and_still_collects_later_cycles() -> None:
    try:
        before = _Node()
        gcfreeze.settle()
        assert gc.get_freeze_count() > 0
        frozen = weakref.ref(before)
        del before
        gc.collect()
        assert frozen() is not None, "a frozen object is never collected"
        later = _Node()
        collected = weakref.ref(later)
        del later
        gc.collect()
        assert collected() is None, "a cycle made after the freeze is still collected"
    finally:
        gc.unfreeze()
