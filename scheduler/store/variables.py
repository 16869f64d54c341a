"""Function variables (Appwrite's ``/functions/{id}/variables``).

Invariants: a key is unique per function (the table's unique constraint; checked
first for a clear error); an id is unique per project; a variable goes with its
function. Values are stored as written: a ``secret`` one is hidden by the API,
not here, because the runner must read it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from scheduler.rules.errors import VariableAlreadyExists, VariableNotFound
from scheduler.store.db import db_now
from scheduler.store.models import Function, Variable

COLUMNS: dict[str, Any] = {
    "key": Variable.key, "secret": Variable.secret, "$id": Variable.id,
    "$createdAt": Variable.created_at, "$updatedAt": Variable.updated_at,
}


def of_function(project_id: str, function_id: str) -> list[ColumnElement[bool]]:
    return [Variable.project_id == project_id, Variable.function_id == function_id]


def _key_taken(session: Session, fn: Function, key: str, other_than: str = "") -> bool:
    return session.execute(select(Variable.id).where(
        *of_function(fn.project_id, fn.id), Variable.key == key,
        Variable.id != other_than)).first() is not None


def create(session: Session, fn: Function, variable_id: str, fields: dict[str, Any]
           ) -> Variable:
    if session.get(Variable, (fn.project_id, variable_id)) is not None or _key_taken(
            session, fn, fields["key"]):
        raise VariableAlreadyExists()
    now = db_now(session)
    variable = Variable(project_id=fn.project_id, id=variable_id, function_id=fn.id,
                        created_at=now, updated_at=now, **fields)
    session.add(variable)
    session.flush()
    return variable


def get(session: Session, fn: Function, variable_id: str, lock: bool = False) -> Variable:
    query = select(Variable).where(*of_function(fn.project_id, fn.id),
                                   Variable.id == variable_id)
    variable = session.execute(query.with_for_update() if lock else query).scalar()
    if variable is None:
        raise VariableNotFound()
    return variable


def update(session: Session, fn: Function, variable: Variable, fields: dict[str, Any]
           ) -> Variable:
    if "key" in fields and _key_taken(session, fn, fields["key"], other_than=variable.id):
        raise VariableAlreadyExists()
    for name, value in fields.items():
        setattr(variable, name, value)
    variable.updated_at = db_now(session)
    session.flush()
    return variable


def delete(session: Session, variable: Variable) -> None:
    session.delete(variable)


def all_of(session: Session, project_id: str, function_ids: list[str]) -> list[Variable]:
    return list(session.execute(
        select(Variable).where(Variable.project_id == project_id,
                               Variable.function_id.in_(function_ids))
        .order_by(Variable.created_at, Variable.id)).scalars())


def environment(session: Session, project_id: str, function_id: str) -> dict[str, str]:
    """What the runner gets: every variable, secret or not."""
    return dict(session.execute(
        select(Variable.key, Variable.value).where(*of_function(project_id, function_id))
    ).tuples().all())
