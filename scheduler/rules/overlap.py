"""Overlap policies: what a schedule's new fires do while its previous run is still
waiting or running. Pure; the dispatcher applies the decision in its fenced
transaction, so it holds across failover.

* ``allow``        — every fire runs (default; runs may overlap);
* ``skip``         — no new fire while a run of this schedule is waiting or running;
* ``buffer_one``   — at most one fire waits (held, unpublished) for the running one and
  starts when it ends; further fires are skipped. A held fire with nothing left
  waiting or running (the run it waited for ended while the hold was being written)
  is released by the next decision, so a schedule can never be held silent;
* ``cancel_other`` — the new fire runs; a run of the schedule still waiting (not yet
  started) is failed with a clear error; a running one is left alone.

When one decision holds several fires (a leader catching up), they would overlap
each other: under every policy but ``allow`` only the most recent runs (and, under
``buffer_one`` with nothing active, the one before it waits). Skips count under
reason ``overlap``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class Overlap(StrEnum):
    ALLOW = "allow"
    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    CANCEL_OTHER = "cancel_other"


OVERLAPS: tuple[str, ...] = tuple(o.value for o in Overlap)


@dataclass(frozen=True)
class Active:
    """A schedule's runs not yet ended: ``waiting`` (queued, or held for jitter),
    ``processing``, and ``buffered`` (held by ``buffer_one``)."""

    waiting: int = 0
    processing: int = 0
    buffered: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.processing or self.buffered)


@dataclass(frozen=True)
class OverlapDecision:
    run: tuple[datetime, ...]  # written as usual
    buffer: datetime | None  # written held, started when the active run ends
    skipped: tuple[datetime, ...]
    cancel_waiting: bool = False  # fail the schedule's waiting runs
    release_buffered: bool = False  # start the held fire now: nothing it waits for is left


def decide(policy: Overlap | str, active: Active, fires: tuple[datetime, ...]
           ) -> OverlapDecision:
    if policy == Overlap.ALLOW or not fires:
        return OverlapDecision(fires, None, ())
    fires = tuple(sorted(fires))
    latest, older = fires[-1], fires[:-1]
    if policy == Overlap.SKIP:
        if active.busy:
            return OverlapDecision((), None, fires)
        return OverlapDecision((latest,), None, older)
    if policy == Overlap.CANCEL_OTHER:
        return OverlapDecision((latest,), None, older, cancel_waiting=active.waiting > 0)
    if policy == Overlap.BUFFER_ONE:
        if active.buffered and not (active.waiting or active.processing):
            # An orphaned hold: the run it waited for is gone. It starts now, so the
            # fires are decided as if it were waiting.
            started = decide(policy, Active(waiting=1), fires)
            return replace(started, release_buffered=True)
        if active.buffered:
            return OverlapDecision((), None, fires)
        if active.waiting or active.processing:
            return OverlapDecision((), latest, older)
        if older:
            return OverlapDecision((older[-1],), latest, older[:-1])
        return OverlapDecision((latest,), None, ())
    raise ValueError(f"unknown overlap policy {policy!r}; expected one of {OVERLAPS}")
