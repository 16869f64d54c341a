"""Missed-run policies: given a due schedule and the time now, which nominal fire
times run, which are skipped, and where the schedule goes next. Pure.

A fire is *on time* when it is at most ``misfire_grace`` seconds old; on-time
fires always run. Older ones are *missed* and the policy decides:

* ``skip``   — run none of them;
* ``latest`` — run the most recent missed one, unless an on-time fire already
  covers the schedule (default);
* ``all``    — run every missed one younger than ``catchup_window``, the most
  recent ``catchup_cap`` of them.

Everything not run is counted as skipped with reason ``missed``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from scheduler.timerules import Cron, iter_fires, next_fire

Policy = Literal["skip", "latest", "all"]
POLICIES: tuple[str, ...] = ("skip", "latest", "all")

# Walking the fire times of an outage costs ~30 us each and runs inside the
# dispatch transaction; beyond this many (two weeks of a minutely cron) the walk
# jumps ahead, the skip count is a lower bound and Decision.truncated says so.
COUNT_LIMIT = 20_000


@dataclass(frozen=True)
class MissedRunRule:
    policy: Policy = "latest"
    misfire_grace: int = 60
    catchup_window: int = 86400
    catchup_cap: int = 100


@dataclass(frozen=True)
class Decision:
    fire: tuple[datetime, ...]
    skipped: int
    last_skipped: datetime | None
    next_fire_at: datetime
    truncated: bool = False  # skipped is a lower bound (COUNT_LIMIT reached)


def decide(
    cron: Cron, tz: ZoneInfo, due: datetime, now: datetime, rule: MissedRunRule
) -> Decision:
    """``due`` is the schedule's ``next_fire_at`` (a fire time, <= now)."""
    following = next_fire(cron, tz, due)
    if following > now:  # the everyday case: one fire due, cached next time
        return _apply(rule, [due], 1, now, following)
    # An outage: walk every fire time in [due, now], keeping only what a policy
    # could run (the most recent ones), but counting all.
    keep = max(rule.catchup_cap, 1) + 1
    grace = timedelta(seconds=rule.misfire_grace)
    recent: deque[datetime] = deque([due])
    total = 1
    walker = iter_fires(cron, tz, due)
    upcoming = next(walker)
    while upcoming <= now and total < COUNT_LIMIT:
        total += 1
        recent.append(upcoming)
        # On-time fires are the newest and always run, so they are never dropped.
        if len(recent) > keep and now - recent[0] > grace:
            recent.popleft()
        upcoming = next(walker)
    truncated = upcoming <= now
    if truncated:  # counting limit reached: jump ahead
        upcoming = next_fire(cron, tz, now)
        # What ran must still be the latest fire times, not the last ones counted.
        recent = deque(next_fires_between(cron, tz, now, keep, grace))
    decision = _apply(rule, list(recent), total, now, upcoming)
    return replace(decision, truncated=truncated)


def next_fires_between(cron: Cron, tz: ZoneInfo, now: datetime, keep: int,
                       grace: timedelta) -> list[datetime]:
    """The latest ``keep`` fire times at or before ``now`` (and any on-time ones)."""
    from scheduler.timerules import fires_between

    window = max(grace, timedelta(days=1))
    while True:
        found, _ = fires_between(cron, tz, now - window, now, cap=keep)
        if len(found) >= keep or window > timedelta(days=3660):
            return found
        window *= 4


def _apply(
    rule: MissedRunRule, recent: list[datetime], total: int, now: datetime, upcoming: datetime
) -> Decision:
    grace = timedelta(seconds=rule.misfire_grace)
    on_time = [t for t in recent if now - t <= grace]
    missed = [t for t in recent if now - t > grace]
    n_missed = total - len(on_time)
    if rule.policy == "skip":
        chosen: list[datetime] = []
    elif rule.policy == "latest":
        chosen = [] if on_time or not missed else [missed[-1]]
    else:
        window = timedelta(seconds=rule.catchup_window)
        in_window = [t for t in missed if now - t <= window]
        room = max(rule.catchup_cap - len(on_time), 0)
        chosen = in_window[-room:] if room else []
    fire = tuple(chosen + on_time)
    skipped = n_missed - len(chosen)
    # `recent` holds catchup_cap + 1 fires, so whenever anything was skipped
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
    count, last = 1, due
    walker = iter_fires(cron, tz, due)
    upcoming = next(walker)
    while upcoming <= now and count < COUNT_LIMIT:
        count, last = count + 1, upcoming
        upcoming = next(walker)
    if upcoming <= now:
        upcoming = next_fire(cron, tz, now)
    return count, last, upcoming
