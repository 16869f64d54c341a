"""Times for people at an 80-column terminal, as kubectl shows them. Pure.

``relative`` reads "in 42s" / "3m ago"; ``clock`` is a local "HH:MM" (with the
date when it is not today). Full ISO 8601 stays in ``--json`` and ``--wide``.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# (below this many seconds, show this unit, then this finer one if non-zero)
_LADDER = (
    (120, "s", None), (600, "m", "s"), (3 * 3600, "m", None), (8 * 3600, "h", "m"),
    (48 * 3600, "h", None), (8 * 86400, "d", "h"), (730 * 86400, "d", None),
)


def span(seconds: float) -> str:
    """A non-negative duration in kubectl's ``HumanDuration`` style: coarser as it grows,
    never more than two units."""
    s = int(seconds)
    for below, unit, finer in _LADDER:
        if s < below:
            whole, rest = divmod(s, _UNITS[unit])
            shown = f"{whole}{unit}"
            if finer and rest // _UNITS[finer]:
                shown += f"{rest // _UNITS[finer]}{finer}"
            return shown
    return f"{s // (365 * 86400)}y"


def relative(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    delta = (when - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {span(delta)}" if delta > 0 else f"{span(-delta)} ago"


def clock(when: datetime | None, zone: tzinfo, now: datetime) -> str:
    if when is None:
        return "-"
    local = when.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    if local.year == now.astimezone(zone).year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d %H:%M")
