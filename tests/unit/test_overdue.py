"""The overdue rule's table read for a row in hand (``rules.overdue``); its SQL readings
are held to this one by ``tests/integration/test_lists_pg.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from scheduler.rules.overdue import OVERDUE, cut, is_overdue
from scheduler.rules.states import ExecutionStatus

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@dataclass
class Row:
    status: str
    deadline_at: datetime | None


def test_only_a_processing_run_past_its_deadline_and_the_margin_is_overdue() -> None:
    at = cut(NOW, 30)
    assert at == NOW - timedelta(seconds=30)
    assert is_overdue(Row("processing", at - timedelta(microseconds=1)), at)
    assert not is_overdue(Row("processing", at), at)  # the cut itself is still waited for
    assert not is_overdue(Row("processing", None), at)  # started before deadlines existed
    assert not is_overdue(Row("waiting", at - timedelta(days=1)), at)  # it will still run


@given(st.sampled_from(list(ExecutionStatus)),
       st.one_of(st.none(), st.integers(-10_000, 10_000)))
def test_the_table_is_the_rule_as_the_docstring_states_it(status: ExecutionStatus,
                                                          offset: int | None) -> None:
    at = cut(NOW, 15)
    deadline = None if offset is None else at + timedelta(seconds=offset)
    expected = status == ExecutionStatus.PROCESSING and deadline is not None and deadline < at
    assert is_overdue(Row(status.value, deadline), at) == expected
    assert [t.column for t in OVERDUE] == ["status", "deadline_at", "deadline_at"]
