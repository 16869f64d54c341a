"""The execution lifecycle (``scheduler.rules.lifecycle``): its moves, a new row, and a
scan of the code that fails on an execution status written anywhere but through it."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler.rules import lifecycle
from scheduler.rules.errors import ScheduleError
from scheduler.rules.lifecycle import ExecutionRow, may_move, new_execution
from scheduler.rules.states import ExecutionStatus as S
from scheduler.rules.states import Trigger
from scheduler.rules.timerules import parse_scheduled_at

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_the_moves_are_appwrite_s_order_and_nothing_leaves_an_end() -> None:
    allowed = {(a, b) for a in [None, *S] for b in S if may_move(a, b)}
    assert allowed == {
        (None, S.SCHEDULED), (None, S.WAITING), (S.SCHEDULED, S.WAITING),
        (S.WAITING, S.PROCESSING), (S.WAITING, S.FAILED),
        (S.PROCESSING, S.COMPLETED), (S.PROCESSING, S.FAILED)}
    assert lifecycle.finished(True) is lifecycle.FAIL
    assert lifecycle.finished(False).target == S.COMPLETED


def test_a_new_row_has_every_column_and_waits_only_for_a_time_or_its_schedule() -> None:
    at = NOW + timedelta(minutes=5)
    now_row = new_execution(id="e", project_id="p", function_id="f", trigger=Trigger.HTTP,
                            now=NOW)
    later = new_execution(id="e", project_id="p", function_id="f", trigger=Trigger.HTTP,
                          now=NOW, scheduled_at=at)
    held = new_execution(id="e", project_id="p", function_id="f",
                         trigger=Trigger.SCHEDULE, now=NOW, held=True)
    assert set(now_row) == set(ExecutionRow.__annotations__)
    assert (now_row["status"], now_row["enqueued_at"], now_row["trigger"]) == (
        "waiting", NOW, "http")
    assert (later["status"], later["enqueued_at"], later["trigger"]) == (
        "scheduled", None, "schedule")
    assert (held["status"], held["enqueued_at"]) == ("scheduled", None)
    assert now_row["attempts"] == 0 and now_row["response_headers"] == []


def test_the_model_has_exactly_the_lifecycle_s_columns() -> None:
    from scheduler.store.models import Execution

    assert {c.name for c in Execution.__table__.columns} == set(ExecutionRow.__annotations__)


def test_the_scheduled_at_lead_is_the_lifecycle_s() -> None:
    lead = lifecycle.SCHEDULED_AT_LEAD
    base = NOW.replace(second=0)
    parse_scheduled_at((base + lead + timedelta(minutes=1)).isoformat(), base)
    with pytest.raises(ScheduleError, match="at least 1 minute from now"):
        parse_scheduled_at((base + lead).isoformat(), base)
    assert lifecycle.SCHEDULED_AT_LEAD_SQL == "interval '60 seconds'"


# ---------------------------------------------------------------- the code scan

STATUS_NAMES = {m.name for m in S}
STATUS_VALUES = {m.value for m in S}
# SQL that sets a status to a literal: ``SET ... status = 'x'`` (a WHERE may read one).
SQL_WRITE = re.compile(r"\bSET\b(?:(?!\bWHERE\b)[^;])*?\bstatus\s*=\s*'(\w+)'", re.I | re.S)
OWN = {"scheduler/rules/lifecycle.py", "scheduler/rules/states.py"}


def _is_status_value(node: ast.AST) -> bool:
    """``ExecutionStatus.X`` (or a short alias of it), or a status's literal text."""
    if isinstance(node, ast.Attribute) and node.attr in STATUS_NAMES:
        return isinstance(node.value, ast.Name) and node.value.id in {"ExecutionStatus", "S"}
    return isinstance(node, ast.Constant) and node.value in STATUS_VALUES


def _assigns_status(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign) and _is_status_value(node.value) and any(
        isinstance(t, ast.Attribute) and t.attr == "status" for t in node.targets)


def _sql_sets_status(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and any(
        m.group(1) in STATUS_VALUES for m in SQL_WRITE.finditer(node.value))


def status_writes(source: str) -> list[int]:
    """Lines that write an execution status not taken from the lifecycle."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == "status" and _is_status_value(
                node.value):
            found.append(node.value.lineno)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value == "status"
                        and _is_status_value(value)):
                    found.append(value.lineno)
        elif _assigns_status(node) or _sql_sets_status(node):
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("snippet", [
    "update(E).values(status=ExecutionStatus.FAILED)",
    "row = {'id': 1, 'status': 'waiting'}",
    "execution.status = ExecutionStatus.COMPLETED",
    "SQL = \"UPDATE executions SET errors = '', status = 'failed' WHERE id = 1\"",
])
def test_the_scan_sees_each_way_of_writing_a_status(snippet: str) -> None:
    assert status_writes(snippet) == [1]


def test_the_scan_lets_reads_through() -> None:
    assert status_writes(
        "q.where(E.status == ExecutionStatus.WAITING)\n"
        "SQL = \"UPDATE executions SET x = 1 WHERE status = 'waiting'\"\n"
        "ok = {'status': lifecycle.FAIL.target}\n") == []


def test_no_status_is_written_outside_the_lifecycle() -> None:
    offenders = []
    for package in ("scheduler", "tasks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name in OWN:
                continue
            offenders += [f"{name}:{line}" for line in status_writes(path.read_text())]
    assert not offenders, ("execution statuses written outside scheduler/rules/lifecycle.py "
                           f"(take a Move's target or new_execution's row): {offenders}")
