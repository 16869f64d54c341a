"""Interval schedules (Appwrite's ``interval``: minutes between runs). Pure.

"Appwrite picks when within each interval the function runs": Tocsin picks a stable
offset from the function's identity, so thousands of functions with ``interval: 60``
spread over the hour instead of all firing at its top, and a function keeps its
minute across restarts, failovers and edits of other fields.

An interval schedule is stored like a cron one, as the expression
``@every <minutes>m+<offset>m``: fires at ``1970-01-01T00:00Z + offset + k * minutes``
(UTC; time zones and DST do not move it). The time rules (``timerules``,
``firecount``) hand such expressions here, so missed-run policies, counters and the
exactly-once key work as for cron.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scheduler.rules.errors import CronError

PREFIX = "@every "
MAX_MINUTES = 525_600  # a year, Appwrite's upper bound
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORM = re.compile(r"^@every (\d+)m\+(\d+)m$")
_US = timedelta(microseconds=1)
_MINUTE_US = 60_000_000


@dataclass(frozen=True)
class Every:
    minutes: int
    offset: int  # minutes after each period's start, 0 <= offset < minutes

    @property
    def expression(self) -> str:
        return f"{PREFIX}{self.minutes}m+{self.offset}m"


def offset_for(key: str, minutes: int) -> int:
    """A stable, evenly spread minute within the period for ``key`` (a hash, so any
    set of keys lands close to uniformly)."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % minutes


def for_function(project_id: str, function_id: str, minutes: int) -> Every:
    if not 1 <= minutes <= MAX_MINUTES:
        raise CronError(f"interval must be 1 to {MAX_MINUTES} minutes, got {minutes}")
    return Every(minutes, offset_for(f"{project_id}/{function_id}", minutes))


def is_interval(expression: str) -> bool:
    return expression.startswith(PREFIX)


def parse(expression: str) -> Every:
    match = _FORM.match(expression)
    if not match:
        raise CronError(f"'{expression}' is not an interval (@every <minutes>m+<offset>m)")
    minutes, offset = int(match.group(1)), int(match.group(2))
    if not 1 <= minutes <= MAX_MINUTES or offset >= minutes:
        raise CronError(f"'{expression}': minutes must be 1 to {MAX_MINUTES} and the "
                        "offset less than them")
    return Every(minutes, offset)


def _index(every: Every, instant: datetime) -> int:
    """How many fire times lie at or before ``instant`` (relative to the epoch)."""
    since = (instant.astimezone(UTC) - EPOCH) // _US - every.offset * _MINUTE_US
    return since // (every.minutes * _MINUTE_US) + 1


def _at(every: Every, index: int) -> datetime:
    """The ``index``-th fire time (1-based, as ``_index`` counts)."""
    return EPOCH + timedelta(minutes=every.offset + (index - 1) * every.minutes)


def fires_after(every: Every, after: datetime) -> Iterator[datetime]:
    """Fire instants strictly after ``after``, ascending, forever."""
    index = _index(every, after) + 1
    while True:
        yield _at(every, index)
        index += 1


def count(every: Every, after: datetime, until: datetime) -> int:
    """How many fire times lie in ``(after, until]``, in O(1)."""
    return max(0, _index(every, until) - _index(every, after))


def latest(every: Every, after: datetime, until: datetime, keep: int) -> list[datetime]:
    """The latest ``keep`` fire times in ``(after, until]``, ascending."""
    last = _index(every, until)
    first = max(_index(every, after) + 1, last - keep + 1)
    return [_at(every, i) for i in range(first, last + 1)] if keep else []


def describe(expression: str) -> str:
    every = parse(expression)
    return f"every {every.minutes} minutes, at minute {every.offset} of each interval"
