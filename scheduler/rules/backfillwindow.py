"""What a backfill may ask for: a window of past fire times. Pure.

The window is ``[from, to)``: in the past (``to`` at most now; what is ahead the
schedule runs itself), at most a year long, and holding at most 100,000 fires.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.rules.errors import InvalidInput

MAX_WINDOW = timedelta(days=366)
MAX_FIRES = 100_000


class WindowError(InvalidInput):
    """The backfill window is not allowed; ``field`` names the offending bound."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check(from_at: datetime, to_at: datetime, now: datetime) -> None:
    if from_at >= to_at:
        raise WindowError("to", "Value must be after `from`")
    if to_at - from_at > MAX_WINDOW:
        raise WindowError("to", "The window may span at most 1 year (366 days)")
    if to_at > now:
        raise WindowError("to", f"The window must be in the past: `to` at most now "
                                f"({now.isoformat()}); the schedule runs what is ahead")


def check_count(total: int) -> None:
    if total > MAX_FIRES:
        raise WindowError("to", f"The window holds {total:,} fires; at most {MAX_FIRES:,} "
                                "per backfill")
