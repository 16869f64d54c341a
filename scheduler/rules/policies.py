"""Missed-run policies: given a due schedule and the time now, which nominal fire
times run, which are skipped, and where the schedule goes next. Pure.

A fire is *on time* when it came due while the current leader was leading
(``leading_since``, the lease's acquisition time by the database clock), or when it
is at most ``misfire_grace`` seconds old. So load never makes a fire "missed": a fire
that came due while a leader was dispatching is on time however busy the batch, and
``misfire_grace: 0`` means "nothing that came due while no leader ran". On-time
fires always run. Older ones are *missed* and the policy decides:

* ``skip``   — run none of them;
* ``latest`` — run the most recent missed one, unless an on-time fire already
  covers the schedule (default);
* ``all``    — run every missed one younger than ``catchup_window``, the most
  recent ``catchup_cap`` of them.

Everything not run is counted as skipped with reason ``missed``. Counting does not
walk the missed fire times (``firecount``): a decision costs about the same after a
minute's outage as after a month's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from scheduler.rules.firecount import count_fires, latest_fires
from scheduler.rules.timerules import Cron, next_fire


class Policy(StrEnum):
    SKIP = "skip"
    LATEST = "latest"
    ALL = "all"


POLICIES: tuple[str, ...] = tuple(p.value for p in Policy)

# Beyond this outage the count covers only its most recent part: skipped is then a
# lower bound and Decision.truncated says so.
MAX_COUNT_SPAN = timedelta(days=366)
# At most this many on-time fires of one schedule run in one decision (a leader that
# fell far behind); older on-time fires beyond it are counted as skipped.
ON_TIME_CAP = 100
# A schedule's defaults for missed runs (Tocsin's own fields; Appwrite has none).
DEFAULT_MISFIRE_GRACE = 60
DEFAULT_CATCHUP_WINDOW = 24 * 3600  # one day
DEFAULT_CATCHUP_CAP = 100
# What a schedule may ask: a grace of at most a day, a window of at most MAX_COUNT_SPAN.
MAX_MISFIRE_GRACE = 86400
MAX_CATCHUP_WINDOW = int(MAX_COUNT_SPAN.total_seconds())
MAX_CATCHUP_CAP = 10000


@dataclass(frozen=True)
class MissedRunRule:
    policy: Policy | str = Policy.LATEST
    misfire_grace: int = DEFAULT_MISFIRE_GRACE
    catchup_window: int = DEFAULT_CATCHUP_WINDOW
    catchup_cap: int = DEFAULT_CATCHUP_CAP


@dataclass(frozen=True)
class Decision:
    fire: tuple[datetime, ...]
    skipped: int
    last_skipped: datetime | None
    next_fire_at: datetime
    truncated: bool = False  # skipped is a lower bound (MAX_COUNT_SPAN reached)


def _on_time_from(rule: MissedRunRule, now: datetime, leading_since: datetime | None
                  ) -> datetime:
    grace_start = now - timedelta(seconds=rule.misfire_grace)
    return grace_start if leading_since is None else min(grace_start, leading_since)


@lru_cache(maxsize=4096)
def decide(
    cron: Cron, tz: ZoneInfo, due: datetime, now: datetime, rule: MissedRunRule,
    leading_since: datetime | None = None,
) -> Decision:
    """``due`` is the schedule's ``next_fire_at`` (a fire time, <= now).

    Memoised (it is pure): within one batch ``now`` is shared, and schedules with one
    expression, zone and due time (every ``0 * * * *`` after an outage) are decided once.
    """
    on_time_from = _on_time_from(rule, now, leading_since)
    following = next_fire(cron, tz, due)
    if following > now:  # the everyday case: one fire due, cached next time
        return _apply(rule, [due], 1, now, following, on_time_from)
    # An outage: count every fire time in [due, now], fetch only what a policy
    # could run (the most recent ones).
    start, truncated = due, False
    if now - due > MAX_COUNT_SPAN:
        start, truncated = now - MAX_COUNT_SPAN, True
    total = count_fires(cron, tz, start, now) + (0 if truncated else 1)
    on_time = count_fires(cron, tz, max(start, on_time_from - timedelta(microseconds=1)), now)
    keep = (max(rule.catchup_cap, 1) if rule.policy == Policy.ALL else 1) + 1
    keep += min(on_time, ON_TIME_CAP)
    recent = latest_fires(cron, tz, start, now, keep)
    if not truncated and len(recent) < keep:
        recent = [due, *recent]
    decision = _apply(rule, recent, total, now, next_fire(cron, tz, now), on_time_from)
    return Decision(decision.fire, decision.skipped, decision.last_skipped,
                    decision.next_fire_at, truncated)


def _apply(rule: MissedRunRule, recent: list[datetime], total: int, now: datetime,
           upcoming: datetime, on_time_from: datetime) -> Decision:
    window = timedelta(seconds=rule.catchup_window)
    on_time = [t for t in recent if t >= on_time_from][-ON_TIME_CAP:]
    missed = [t for t in recent if t < on_time_from]
    n_missed = total - len(on_time)
    if rule.policy == Policy.SKIP:
        chosen: list[datetime] = []
    elif rule.policy == Policy.LATEST:
        chosen = [] if on_time or not missed else [missed[-1]]
    else:
        in_window = [t for t in missed if now - t <= window]
        room = max(rule.catchup_cap - len(on_time), 0)
        chosen = in_window[-room:] if room else []
    fire = tuple(chosen + on_time)
    skipped = n_missed - len(chosen)
    # `recent` holds catchup_cap + 1 missed fires, so whenever anything was skipped
    # the latest skipped one is among them.
    chosen_set = set(chosen)
    not_run = [t for t in missed if t not in chosen_set]
    last_skipped = not_run[-1] if skipped and not_run else None
    return Decision(fire=fire, skipped=skipped, last_skipped=last_skipped, next_fire_at=upcoming)


def skipped_while_inactive(
    cron: Cron, tz: ZoneInfo, due: datetime, now: datetime
) -> tuple[int, datetime | None, datetime]:
    """Fire times that passed while a schedule was paused or disabled.

    Returns (count, latest skipped, next fire after now).
    """
    if due > now:
        return 0, None, due
    start = max(due, now - MAX_COUNT_SPAN)
    count = count_fires(cron, tz, start, now) + (1 if start == due else 0)
    last = (latest_fires(cron, tz, start, now, 1) or [due])[-1]
    return count, last, next_fire(cron, tz, now)
