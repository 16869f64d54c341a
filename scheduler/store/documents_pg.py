"""An execution's document built by PostgreSQL, for the fast list path.

``documents.execution_json`` is the reference. Building 25 documents in Python (ORM
rows or not) and encoding them was over a third of what a list cost the API process:
JSON columns parsed only to be encoded again, three timestamps formatted per row.
Here PostgreSQL writes each document as JSON text and the API joins the texts.

Invariant: parsed, the text is equal to ``execution_json(row, reported=overdue
.reported(row))`` for the same row and the same ``Overdue`` (an API key's view: logs
and errors shown; no response body, as on any list). ``tests/integration/
test_lists_pg.py`` holds the two to it over generated rows. PostgreSQL only.
"""

from __future__ import annotations

from scheduler.store.documents import EXECUTION_FIELDS, REQUEST_HEADER_ALLOWLIST, Field, Form
from scheduler.store.lists_pg import Sql


def iso(column: str) -> str:
    """``timerules.iso`` in SQL: UTC, milliseconds (truncated, as Python's
    ``isoformat`` truncates), an explicit offset; NULL stays null."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"')"""


_ALLOWED = ", ".join(f"'{name}'" for name in REQUEST_HEADER_ALLOWLIST)
# The allowlisted request headers as [{name, value}], in the order they were stored
# (``json``, unlike ``jsonb``, keeps it).
_REQUEST_HEADERS = f"""CASE WHEN json_typeof(request_headers) = 'object' THEN (
  SELECT coalesce(json_agg(json_build_object('name', h.key, 'value', h.value)
                           ORDER BY h.n), '[]'::json)
  FROM json_each_text(request_headers) WITH ORDINALITY AS h(key, value, n)
  WHERE lower(h.key) IN ({_ALLOWED})) ELSE '[]'::json END"""
_RESPONSE_HEADERS = """CASE WHEN response_headers IS NULL OR json_typeof(response_headers) = 'null'
  THEN '[]'::json ELSE response_headers END"""
_PERMISSIONS = """CASE WHEN coalesce(user_id, '') <> ''
  THEN json_build_array('read("user:' || user_id || '")') ELSE '[]'::json END"""


def _field_sql(field: Field, status: Sql, errors: Sql) -> Sql:
    """One field of ``EXECUTION_FIELDS`` as SQL (an API key's view: logs and errors
    shown, no response body, as on any list)."""
    form = field.form
    if form in (Form.COLUMN, Form.LOGS):
        return Sql(field.source)
    if form is Form.TIME:
        return Sql(iso(field.source))
    if form is Form.CONSTANT:
        return Sql("%s::text", (field.source,))
    if form is Form.STATUS:
        return status
    if form is Form.ERRORS:
        return errors
    return Sql({Form.PERMISSIONS: _PERMISSIONS, Form.REQUEST_HEADERS: _REQUEST_HEADERS,
                Form.RESPONSE_HEADERS: _RESPONSE_HEADERS, Form.RESPONSE_BODY: "''"}[form])


def execution_document(status: Sql, errors: Sql) -> Sql:
    """The document as JSON text, given the reported ``status`` and ``errors``
    (``Overdue.reported_sql``): ``EXECUTION_FIELDS``, in their order."""
    parts = [(f.name, _field_sql(f, status, errors)) for f in EXECUTION_FIELDS]
    pairs = ",\n  ".join(f"'{name}', {sql.text}" for name, sql in parts)
    params = tuple(p for _, sql in parts for p in sql.params)
    return Sql(f"json_build_object(\n  {pairs})::text", params)
