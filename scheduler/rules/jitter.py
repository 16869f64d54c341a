"""Jitter: a schedule's fires spread over up to ``jitter`` seconds after their
nominal time, so many schedules on one cron do not start in the same second. Pure.

The delay is a deterministic function of (schedule id, nominal time): every leader
computes the same one, so a fire decided twice (failover) is delayed the same. It is
never past the schedule's next fire. The nominal time stays the execution's identity
(the exactly-once key and ``x-tocsin-scheduled-for``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

MAX_JITTER = 3600  # seconds


def delay(schedule_id: str, nominal: datetime, jitter: int,
          following: datetime | None = None) -> timedelta:
    """How long after ``nominal`` the fire starts: uniform in ``[0, jitter]`` seconds
    (whole milliseconds), and before ``following`` (the next nominal fire)."""
    if jitter <= 0:
        return timedelta(0)
    key = f"{schedule_id}/{nominal.isoformat()}".encode()
    fraction = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
    ms = int(fraction * (jitter * 1000 + 1))
    if following is not None:
        room_ms = int((following - nominal).total_seconds() * 1000) - 1
        ms = max(0, min(ms, room_ms))
    return timedelta(milliseconds=ms)
