"""Cron validation, fire times under Tocsin's DST rule, and ``scheduledAt`` rules.

Pure: no I/O, no clock reads (callers pass ``now``), so every rule here can be
tested exhaustively.

Why not croniter's own time-zone handling: croniter fires a fixed-hour job
twice on a fall-back day and can return a time in the past from inside a
repeated hour. Why not APScheduler's ``CronTrigger.from_crontab``: it reads
day-of-week 1 as Tuesday. So croniter only enumerates *wall-clock* times
(naive, zone-free), and this module maps each wall time to real instants:

* fixed-hour expressions (a single number in the hour field): a wall time in a
  spring-forward gap fires once at the first instant after the gap; a wall
  time in a repeated hour fires once, on its first occurrence;
* expressions that step hours (``*``, ``*/n``, ranges, lists): nonexistent
  wall times are skipped and repeated ones fire in both copies, so real-time
  spacing is kept.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pendulum
from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

from scheduler.rules import intervals
from scheduler.rules.errors import CronError, ScheduleError
from scheduler.rules.lifecycle import SCHEDULED_AT_LEAD

# No zone has ever shifted its clock by more than this at once; it bounds how
# far wall-clock order and real-time order can disagree around a transition.
_MAX_SHIFT = timedelta(hours=3)

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 7, _DAYS),
)

_ALLOWED = (
    "five fields (minute hour day-of-month month day-of-week) or one of "
    + ", ".join(sorted(MACROS))
)


SCHEDULED_AT_MESSAGE = "Execution schedule must be a valid date, and at least 1 minute from now"
SCHEDULED_AT_SYNC_MESSAGE = (
    "Scheduled executions must run asynchronously. Set scheduledAt to a future date, "
    "or set async to true."
)


@dataclass(frozen=True)
class Cron:
    """A validated five-field expression and which DST rule applies to it."""

    expression: str
    fixed_hour: bool


# --------------------------------------------------------------------------- cron validation


def _value(token: str, field: _Field, expr_item: str) -> int:
    low = token.lower()
    if field.names and low in field.names:
        return field.names[low]
    if not token.isdigit():
        allowed = f"{field.low}-{field.high}"
        if field.names:
            allowed += " or names like " + ", ".join(list(field.names)[:3])
        raise CronError(f"'{expr_item}' in the {field.name} field is not a number ({allowed})")
    number = int(token)
    if not field.low <= number <= field.high:
        raise CronError(
            f"{number} is out of range for the {field.name} field "
            f"(allowed {field.low}-{field.high})"
        )
    return number


def _check_item(item: str, field: _Field) -> None:
    if item == "":
        raise CronError(f"empty list item in the {field.name} field")
    base, _, step = item.partition("/")
    if "/" in item:
        if not step.isdigit() or int(step) == 0:
            raise CronError(f"step '{step}' in the {field.name} field must be a positive number")
        if int(step) > field.high:
            raise CronError(
                f"step {step} in the {field.name} field is larger than its range "
                f"({field.low}-{field.high})"
            )
    if base in ("*", "?"):
        if base == "?" and field.name not in ("day-of-month", "day-of-week"):
            raise CronError(
                f"'?' is only allowed in day-of-month and day-of-week, not {field.name}"
            )
        return
    if field.name == "day-of-month" and base.upper() == "L" and not step:
        return
    if field.name == "day-of-week" and "#" in base and not step:
        day, _, nth = base.partition("#")
        _value(day, field, item)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise CronError(f"'{item}': the nth weekday after '#' must be 1-5")
        return
    if "-" in base:
        first, _, last = base.partition("-")
        a, b = _value(first, field, item), _value(last, field, item)
        if a > b:
            raise CronError(
                f"range '{base}' in the {field.name} field runs backwards; "
                f"write it as two items, e.g. '{a}-{field.high},{field.low}-{b}'"
            )
        return
    start = _value(base, field, item)
    if step and start + int(step) > field.high:
        # croniter 7 changed what '{start}/{step}' means when only the start
        # itself is in range; refuse rather than guess which meaning is wanted.
        raise CronError(
            f"'{item}' in the {field.name} field is ambiguous (its meaning changed between "
            f"cron libraries); write '{start}' or a range such as '{start}-{field.high}/{step}'"
        )


def parse_cron(expression: str) -> Cron:
    """Validate an expression; return it normalised with its DST rule."""
    if not isinstance(expression, str):
        raise CronError(f"cron expression is empty; expected {_ALLOWED}")
    return _parse_cron(expression)


@lru_cache(maxsize=4096)
def _parse_cron(expression: str) -> Cron:
    # Memoised: the dispatcher parses every due schedule's expression, and a
    # burst shares a handful of them. Rejections raise and are not cached.
    if not expression.strip():
        raise CronError(f"cron expression is empty; expected {_ALLOWED}")
    text = " ".join(expression.split())
    if intervals.is_interval(text):  # an interval schedule's stored form
        return Cron(expression=intervals.parse(text).expression, fixed_hour=False)
    if text.startswith("@"):
        if text.lower() == "@reboot":
            raise CronError("@reboot is not supported: a scheduler has no boot to run at")
        if text.lower() not in MACROS:
            raise CronError(f"unknown macro '{text}'; expected {_ALLOWED}")
        text = MACROS[text.lower()]
    parts = text.split(" ")
    if len(parts) == 6:
        raise CronError(
            "six fields given: seconds are not supported (minute resolution); "
            f"expected {_ALLOWED}"
        )
    if len(parts) != 5:
        raise CronError(f"{len(parts)} field(s) given; expected {_ALLOWED}")
    for part, field in zip(parts, _FIELDS, strict=True):
        for item in part.split(","):
            _check_item(item, field)
    try:
        it = croniter(text, datetime(2000, 1, 1))
        it.get_next(datetime)
    except CroniterBadDateError:
        raise CronError(f"'{text}' never fires (no such date)") from None
    except CroniterError as exc:
        raise CronError(f"'{text}' is not a valid cron expression: {exc}") from None
    hour = parts[1]
    return Cron(expression=text, fixed_hour=hour.isdigit())


def validate_timezone(name: str) -> ZoneInfo:
    try:
        if not name or name != name.strip() or ".." in name or name.startswith("/"):
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise CronError(
            f"unknown timezone '{name}'; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


# --------------------------------------------------------------------------- fire times


def _transition_after(tz: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """First instant in (before, after] whose offset is that of ``after`` (a gap's end)."""
    target = after.astimezone(tz).utcoffset()
    lo, hi = before, after
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


def _instants(wall: datetime, tz: ZoneInfo, fixed_hour: bool) -> tuple[datetime, ...]:
    u0 = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    u1 = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if u0 == u1:
        return (u0,)
    if u0 < u1:  # repeated wall time: fold 0 is the first occurrence
        return (u0,) if fixed_hour else (u0, u1)
    # Nonexistent wall time (PEP 495: fold 0 reads it with the old offset,
    # landing after the jump; fold 1 with the new one, landing before it).
    return (_transition_after(tz, u1, u0),) if fixed_hour else ()


def _max_offset_near(tz: ZoneInfo, instant: datetime) -> timedelta:
    return max(
        (instant + d).astimezone(tz).utcoffset() or timedelta(0)
        for d in (-_MAX_SHIFT, timedelta(0), _MAX_SHIFT)
    )


def iter_fires(cron: Cron, tz: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Fire instants strictly after ``after``, ascending, in UTC, forever."""
    if intervals.is_interval(cron.expression):
        yield from intervals.fires_after(intervals.parse(cron.expression), after)
        return
    after = after.astimezone(UTC)
    local = after.astimezone(tz)
    wall_after = local.replace(tzinfo=None, fold=0)
    # Inside or near a repeated hour a later instant can have an earlier wall
    # clock; start the wall-clock walk early enough to see it.
    offsets = {(after + d).astimezone(tz).utcoffset() for d in (-_MAX_SHIFT, _MAX_SHIFT)}
    start = wall_after - _MAX_SHIFT if len(offsets | {local.utcoffset()}) > 1 else wall_after
    walls = croniter(cron.expression, start)
    pending: list[datetime] = []
    last = after
    while True:
        wall: datetime = walls.get_next(datetime)
        for instant in _instants(wall, tz, cron.fixed_hour):
            if instant > last:
                heapq.heappush(pending, instant)
        approx = wall.replace(tzinfo=UTC) - (wall.replace(tzinfo=tz).utcoffset() or timedelta(0))
        # No wall time at or after `wall` maps to an instant before this floor.
        floor = wall.replace(tzinfo=UTC) - _max_offset_near(tz, approx)
        while pending and pending[0] <= floor:
            instant = heapq.heappop(pending)
            if instant > last:
                last = instant
                yield instant


@lru_cache(maxsize=65536)
def _next_fire_cached(expression: str, fixed_hour: bool, tz_name: str, after: datetime) -> datetime:
    return next(iter_fires(Cron(expression, fixed_hour), ZoneInfo(tz_name), after))


def next_fire(cron: Cron, tz: ZoneInfo, after: datetime) -> datetime:
    """The first fire strictly after ``after``, in UTC.

    Cached: a burst of schedules sharing an expression and due time (the top
    of the hour) computes each distinct answer once.
    """
    return _next_fire_cached(cron.expression, cron.fixed_hour, tz.key, after.astimezone(UTC))


def next_fires(cron: Cron, tz: ZoneInfo, after: datetime, count: int) -> list[datetime]:
    return list(islice(iter_fires(cron, tz, after), count))


def fires_between(
    cron: Cron, tz: ZoneInfo, after: datetime, until: datetime, cap: int
) -> tuple[list[datetime], int]:
    """The *latest* ``cap`` fires in ``(after, until]`` and how many there were in all.

    Keeps only the most recent ``cap`` while walking, so memory stays bounded
    however long the outage was.
    """
    kept: list[datetime] = []
    total = 0
    for instant in iter_fires(cron, tz, after):
        if instant > until:
            break
        total += 1
        kept.append(instant)
        if len(kept) > cap:
            kept.pop(0)
    return kept, total


# --------------------------------------------------------------------------- scheduledAt

_YEAR = re.compile(r"^\s*[+-]?(\d+)")


def parse_scheduled_at(value: str, now: datetime) -> datetime:
    """Appwrite's ``scheduledAt`` rule: a parsable date on a whole minute, > 60 s ahead."""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ScheduleError(SCHEDULED_AT_MESSAGE)
    year = _YEAR.match(value)
    if not year or len(year.group(1)) != 4:
        raise ScheduleError(SCHEDULED_AT_MESSAGE)
    try:
        parsed = pendulum.parse(value.strip(), tz="UTC")
    except (ValueError, TypeError, OverflowError, pendulum.parsing.exceptions.ParserError):
        raise ScheduleError(SCHEDULED_AT_MESSAGE) from None
    if not isinstance(parsed, datetime):
        raise ScheduleError(SCHEDULED_AT_MESSAGE)
    instant = datetime(
        parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute,
        parsed.second, parsed.microsecond, tzinfo=parsed.tzinfo or UTC,
    ).astimezone(UTC)
    if parsed.second or parsed.microsecond:
        raise ScheduleError(SCHEDULED_AT_MESSAGE)
    if instant - now.astimezone(UTC) <= SCHEDULED_AT_LEAD:
        raise ScheduleError(SCHEDULED_AT_MESSAGE)
    return instant


def iso(instant: datetime | None) -> str | None:
    """Appwrite's wire format: milliseconds and an explicit offset."""
    if instant is None:
        return None
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).isoformat(timespec="milliseconds")
