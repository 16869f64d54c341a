"""Operator times as kubectl shows them: "in 42s", "3m ago", local HH:MM."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.cli.humanize import clock, relative, span

UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0s"), (42, "42s"), (119, "119s"), (120, "2m"), (185, "3m5s"), (599, "9m59s"),
    (600, "10m"), (10799, "179m"), (10800, "3h"), (3 * 3600 + 60 * 7, "3h7m"),
    (8 * 3600, "8h"), (47 * 3600 + 59, "47h"), (48 * 3600, "2d"), (3 * 86400 + 5 * 3600, "3d5h"),
    (8 * 86400, "8d"), (729 * 86400, "729d"), (800 * 86400, "2y"),
])
def test_span_table(seconds: int, shown: str) -> None:
    assert span(seconds) == shown


def _parse(shown: str) -> tuple[int, int]:
    """(seconds the text says, the granularity of its last unit)."""
    parts = re.findall(r"(\d+)([smhdy])", shown)
    assert "".join(n + u for n, u in parts) == shown, shown
    return sum(int(n) * UNIT[u] for n, u in parts), UNIT[parts[-1][1]]


@given(st.integers(min_value=0, max_value=20 * 365 * 86400))
def test_span_never_overstates_and_drops_less_than_its_last_unit(seconds: int) -> None:
    said, unit = _parse(span(seconds))
    assert said <= seconds < said + (unit if unit < UNIT["y"] else 2 * UNIT["y"])
    assert len(re.findall(r"[smhdy]", span(seconds))) <= 2


NOW = datetime(2026, 11, 29, 13, 0, 0, tzinfo=UTC)


@given(st.integers(min_value=-10**8, max_value=10**8))
def test_relative_says_which_side_of_now(delta: int) -> None:
    shown = relative(NOW + timedelta(seconds=delta), NOW)
    if delta == 0:
        assert shown == "now"
    elif delta > 0:
        assert shown == f"in {span(delta)}"
    else:
        assert shown == f"{span(-delta)} ago"


def test_relative_and_clock_of_nothing() -> None:
    assert relative(None, NOW) == "-" and clock(None, UTC, NOW) == "-"


def test_clock_is_local_and_adds_the_date_only_when_needed() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert clock(NOW + timedelta(minutes=3), berlin, NOW) == "14:03"
    assert clock(NOW + timedelta(days=2), berlin, NOW) == "Dec 01 14:00"
    assert clock(NOW + timedelta(days=60), berlin, NOW) == "2027-01-28 14:00"
