"""Counting and picking fire times over long spans without walking them one by one. Pure.

After a long outage a missed-run policy needs how many fire times passed (to count
them as skipped) and only the latest few (to run). Walking every fire time costs
~20 us each: a minutely schedule after a 24 h outage is 1,440 steps, 100,000 such
schedules are minutes of CPU inside dispatch transactions. Here:

* A cron's minute and hour fields are the same on every day it matches, so a day
  on which the zone's offset is steady holds ``|hours| x |minutes|`` fire times,
  and a part of such a day is counted by arithmetic on minutes-of-day.
* Days that do not match are skipped with one croniter step to the next one that does.
* A day on which the offset changes (DST) is walked with ``timerules.iter_fires``,
  which owns the DST rule, so both always agree (property-tested).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo

from croniter import croniter

from scheduler.rules import intervals
from scheduler.rules.timerules import Cron, iter_fires, next_fire

MINUTES_PER_DAY = 24 * 60


@lru_cache(maxsize=4096)
def _fields(expression: str) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    """Sorted minutes, sorted hours, and whether every day matches."""
    expanded = croniter(expression).expanded
    minutes = tuple(range(60)) if expanded[0] == ["*"] else tuple(sorted(set(expanded[0])))
    hours = tuple(range(24)) if expanded[1] == ["*"] else tuple(sorted(set(expanded[1])))
    every_day = all(f == ["*"] for f in expanded[2:5])
    return minutes, hours, every_day


@lru_cache(maxsize=65536)
def _next_matching_day(expression: str, day: date) -> date:
    """The first day on or after ``day`` with any fire time (wall clock)."""
    start = datetime.combine(day, time.min) - timedelta(minutes=1)
    fire: datetime = croniter(expression, start).get_next(datetime)
    return fire.date()


def _wall_minutes(value: datetime) -> float:
    return value.hour * 60 + value.minute + (value.second + value.microsecond / 1e6) / 60


def _count_in_day(expression: str, lo: float, hi: float) -> int:
    """Fire wall times v (minutes of day) with lo < v <= hi on a matching day."""
    minutes, hours, _ = _fields(expression)
    total = 0
    for hour in hours:
        base = hour * 60
        if base + 59 <= lo or base > hi:
            continue
        total += bisect_right(minutes, hi - base) - bisect_right(minutes, lo - base)
    return total


def _midnight(day: date, tz: ZoneInfo, after: datetime) -> datetime:
    """The first instant after ``after`` at which local ``day`` begins, in UTC.

    Fold 0 is right in every case: a normal midnight; the first of a repeated
    midnight; and, for a midnight inside a spring-forward gap, the transition itself
    (the old offset carries the wall time exactly to the jump). Inside a repeated
    hour that straddles midnight the day begins a second time (fold 1).
    """
    wall = datetime.combine(day, time.min)
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant > after:
            return instant
    return after + timedelta(hours=1)  # unreachable for real zones; keeps progress


def _fires_at(cron: Cron, tz: ZoneInfo, instant: datetime) -> bool:
    """Whether a fire falls exactly on ``instant`` (a day's first instant: a 00:xx fire,
    or, under the fixed-hour rule, fires from a gap at midnight moved to its end)."""
    _, hours, _ = _fields(cron.expression)
    if hours[0] != 0:
        return False
    return next_fire(cron, tz, instant - timedelta(microseconds=1)) == instant


def count_fires(cron: Cron, tz: ZoneInfo, after: datetime, until: datetime) -> int:
    """How many fire times lie in ``(after, until]``; the same as walking
    ``iter_fires`` and counting, in O(days) instead of O(fires)."""
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    expression = cron.expression
    if intervals.is_interval(expression):
        return intervals.count(intervals.parse(expression), after, until)
    _, _, every_day = _fields(expression)
    total = 0
    cursor = after
    while cursor < until:
        local = cursor.astimezone(tz)
        today = local.date()
        if not every_day:
            matching = _next_matching_day(expression, today)
            if matching != today:
                # No fire before that day's first instant (all days between are idle).
                cursor = min(_midnight(matching, tz, cursor), until)
                if cursor.astimezone(tz).date() != matching:  # reached `until`
                    break
                # A fire exactly at the day's first instant is at `cursor`, which the
                # (cursor, ...] stretches below exclude.
                total += _fires_at(cron, tz, cursor)
                continue
        midnight = _midnight(today + timedelta(days=1), tz, cursor)
        stretch_end = min(midnight, until)
        end_local = stretch_end.astimezone(tz)
        if local.utcoffset() == end_local.utcoffset():
            lo = _wall_minutes(local)
            hi = MINUTES_PER_DAY - 1e-9 if end_local.date() != today else _wall_minutes(end_local)
            total += _count_in_day(expression, lo, hi)
            if stretch_end == midnight:
                total += _fires_at(cron, tz, midnight)
        else:  # the offset changes in this stretch: walk it under the DST rule
            for instant in iter_fires(cron, tz, cursor):
                if instant > stretch_end:
                    break
                total += 1
        cursor = stretch_end
    return total


def latest_fires(cron: Cron, tz: ZoneInfo, after: datetime, until: datetime,
                 keep: int) -> list[datetime]:
    """The latest ``keep`` fire times in ``(after, until]``, ascending: finds a window
    holding that many by counting, then walks only the window."""
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    if intervals.is_interval(cron.expression):
        return intervals.latest(intervals.parse(cron.expression), after, until, keep)
    span = timedelta(minutes=max(keep, 1))
    while True:
        start = max(after, until - span)
        if start == after or count_fires(cron, tz, start, until) >= keep:
            break
        span *= 4
    found = []
    for instant in iter_fires(cron, tz, start):
        if instant > until:
            break
        found.append(instant)
    return found[-keep:] if keep else []


def first_fires(cron: Cron, tz: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    return list(islice(iter_fires(cron, tz, after), count))
