"""The overdue rule (``rules.overdue``) as the store's statements need it: SQLAlchemy for
filters on every dialect, PostgreSQL text for the fast list path; and the execution
columns a list may filter and order by, which see the status as reported.

Both SQL forms are interpreters of the one table ``rules.overdue.OVERDUE``, test by
test; ``tests/integration/test_lists_pg.py`` holds them (and the Python reading) to
the same answers over generated rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, literal, or_

from scheduler.rules import overdue as rule
from scheduler.rules.overdue import LATENESS, OVERDUE, REPORTED_AS, Op, Test
from scheduler.store.lists import Derived
from scheduler.store.lists_pg import Column, DerivedSql, Sql, joined
from scheduler.store.models import Execution

# What a list of executions filters and orders by (Appwrite's attribute names).
EXECUTION_COLUMNS: dict[str, Any] = {
    "trigger": Execution.trigger,
    "status": Execution.status,
    "responseStatusCode": Execution.response_status_code,
    "duration": Execution.duration,
    "requestMethod": Execution.request_method,
    "requestPath": Execution.request_path,
    "$createdAt": Execution.created_at,
    "$updatedAt": Execution.updated_at,
    "$id": Execution.id,
    "deploymentId": Execution.deployment_id,
    # Tocsin's retries (``rules.retries``): a run's attempts, and its dead letters.
    "attempt": Execution.attempt,
    "retryOf": Execution.retry_of,
    "dead": Execution.dead,
}
# What a list may order (and so page with a cursor) by: not a boolean, which has no
# order worth asking for, nor a column that may be NULL, which a cursor's ``>`` cannot
# page through (both are only filtered on).
EXECUTION_ORDERABLE = tuple(a for a in EXECUTION_COLUMNS if a not in ("dead", "retryOf"))
# The same columns by name, for the fast list path's text (``store.lists_pg``).
EXECUTION_NAMES: dict[str, str] = {
    attribute: column.expression.name for attribute, column in EXECUTION_COLUMNS.items()}
EXECUTION_SQL: dict[str, Column] = {a: Sql(name) for a, name in EXECUTION_NAMES.items()}


def _orm(test: Test, cut: datetime, negate: bool = False) -> ColumnElement[bool]:
    column = getattr(Execution, test.column)
    if test.op is Op.EQUALS:
        return column != test.value if negate else column == test.value
    if test.op is Op.NOT_NULL:
        return column.is_(None) if negate else column.is_not(None)
    return column >= cut if negate else column < cut


def _text(test: Test, cut: datetime, negate: bool = False) -> Sql:
    if test.op is Op.EQUALS:
        return Sql(f"{test.column} {'<>' if negate else '='} %s", (test.value,))
    if test.op is Op.NOT_NULL:
        return Sql(f"{test.column} IS {'' if negate else 'NOT '}NULL")
    return Sql(f"{test.column} {'>=' if negate else '<'} %s", (cut,))


def _all_text(tests: Sequence[Test], cut: datetime) -> Sql:
    return joined([_text(t, cut) for t in tests], " AND ")


def _none_text(tests: Sequence[Test], cut: datetime) -> Sql:
    """NOT (all of ``tests``), spelled as an OR of each test negated."""
    return joined([_text(t, cut, negate=True) for t in tests], " OR ")


@dataclass(frozen=True)
class Overdue:
    """The rule at one instant: ``now`` (the database clock), the reaper's ``margin``,
    and the function's timeout for runs that started before deadlines were recorded."""

    now: datetime
    margin: float
    function_timeout: int

    @property
    def cut(self) -> datetime:
        return rule.cut(self.now, self.margin)

    # -- a row in hand

    def applies(self, execution: Execution) -> bool:
        return rule.is_overdue(execution, self.cut)

    def reported(self, execution: Execution) -> tuple[str, str]:
        """(status, errors) as the API reports them."""
        if not self.applies(execution):
            return execution.status, execution.errors
        timeout = execution.timeout or self.function_timeout
        return REPORTED_AS.value, execution.errors or rule.overdue_error(timeout, self.margin)

    # -- SQLAlchemy

    def clause(self) -> ColumnElement[bool]:
        return and_(*(_orm(t, self.cut) for t in OVERDUE))

    def status_column(self) -> ColumnElement[str]:
        return case((self.clause(), literal(REPORTED_AS.value)), else_=Execution.status)

    def status_in(self, values: list[Any]) -> ColumnElement[bool]:
        """``status_column() IN values``, spelled without a CASE on every row."""
        parts: list[ColumnElement[bool]] = []
        for value in dict.fromkeys(values):
            if value == OVERDUE[0].value:  # processing, and not late
                parts.append(and_(Execution.status == value,
                                  or_(*(_orm(t, self.cut, negate=True) for t in LATENESS))))
            elif value == REPORTED_AS:
                parts.append(or_(Execution.status == value, self.clause()))
            else:
                parts.append(Execution.status == value)
        return or_(*parts) if parts else false()

    def filter_columns(self) -> dict[str, Any]:
        """What list filters see: the status as reported."""
        return {"status": Derived(self.status_column(), self.status_in)}

    # -- PostgreSQL text

    def late_sql(self) -> Sql:
        return _all_text(OVERDUE, self.cut)

    def _status_in_sql(self, values: list[Any]) -> Sql:
        parts: list[Sql] = []
        for value in dict.fromkeys(values):
            if value == OVERDUE[0].value:
                late = _none_text(LATENESS, self.cut)
                parts.append(Sql(f"(status = %s AND {late.text})", (value, *late.params)))
            elif value == REPORTED_AS:
                late = self.late_sql()
                parts.append(Sql(f"(status = %s OR {late.text})", (value, *late.params)))
            else:
                parts.append(Sql("status = %s", (value,)))
        return joined(parts, " OR ") if parts else Sql("false")

    def sql_columns(self) -> dict[str, Column]:
        """``filter_columns`` as text, for the fast list path (``store.lists_pg``)."""
        return {**EXECUTION_SQL,
                "status": DerivedSql(self.reported_sql()[0], self._status_in_sql)}

    def reported_sql(self) -> tuple[Sql, Sql]:
        """``reported`` as text: (status, errors)."""
        late = self.late_sql()
        status = Sql(f"CASE WHEN {late.text} THEN '{REPORTED_AS.value}' ELSE status END",
                     late.params)
        before, after = rule.OVERDUE_ERROR.format(timeout="\0", margin=self.margin).split("\0")
        errors = Sql(f"CASE WHEN {late.text} THEN coalesce(nullif(errors, ''), "
                     "%s || coalesce(nullif(timeout, 0), %s)::text || %s) ELSE errors END",
                     (*late.params, before, self.function_timeout, after))
        return status, errors

