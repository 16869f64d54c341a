"""Proxy rules: which domain runs which function.

Invariant: a domain belongs to one rule across all projects (a request's Host names
exactly one function); a rule is deleted with its function.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.rules.errors import RuleAlreadyExists, RuleNotFound
from scheduler.rules.ids import new_id
from scheduler.store.db import db_now
from scheduler.store.models import ProxyRule

COLUMNS: dict[str, Any] = {
    "domain": ProxyRule.domain, "deploymentResourceId": ProxyRule.function_id,
    "$createdAt": ProxyRule.created_at, "$updatedAt": ProxyRule.updated_at,
    "$id": ProxyRule.id,
}


def create(session: Session, project_id: str, function_id: str, domain: str) -> ProxyRule:
    if session.execute(select(ProxyRule.id).where(ProxyRule.domain == domain)).first():
        raise RuleAlreadyExists()
    now = db_now(session)
    rule = ProxyRule(id=new_id(), project_id=project_id, function_id=function_id,
                     domain=domain, created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # two projects claiming one domain at once
            session.add(rule)
            session.flush()
    except IntegrityError:
        raise RuleAlreadyExists() from None
    return rule


def get(session: Session, project_id: str, rule_id: str) -> ProxyRule:
    rule = session.execute(select(ProxyRule).where(
        ProxyRule.project_id == project_id, ProxyRule.id == rule_id)).scalar_one_or_none()
    if rule is None:
        raise RuleNotFound()
    return rule


def delete(session: Session, project_id: str, rule_id: str) -> None:
    session.delete(get(session, project_id, rule_id))


def by_domain(session: Session, domain: str) -> ProxyRule | None:
    return session.execute(
        select(ProxyRule).where(ProxyRule.domain == domain)).scalar_one_or_none()


def listing_filter(project_id: str, search: str) -> list[ColumnElement[bool]]:
    """A project's rules, narrowed by ``search`` (part of the domain, any case)."""
    where: list[ColumnElement[bool]] = [ProxyRule.project_id == project_id]
    if search:
        where.append(ProxyRule.domain.contains(search.lower(), autoescape=True))
    return where
