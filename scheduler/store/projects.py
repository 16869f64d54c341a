"""Projects and API keys. Keys are stored as sha256 hashes only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from scheduler.rules.ids import new_id
from scheduler.rules.scopes import SCOPES, canonical
from scheduler.store.db import affected
from scheduler.store.models import ApiKey, Project

__all__ = ["SCOPES", "KeyView", "add_key", "ensure_project", "find_key", "new_secret"]


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return "tocsin_" + secrets.token_hex(32)


@dataclass(frozen=True)
class KeyView:
    project_id: str
    scopes: frozenset[str]
    expires_at: datetime | None
    ephemeral: bool = False  # a run's own key, revoked when the run ends
    execution_id: str | None = None  # the run whose own key it is
    name: str = ""  # as the operator named it (said in what it did: "cancelled by ...")

    @staticmethod
    def run_of(name: str) -> str | None:
        """The execution a key belongs to, by its name (``execution:<id>``)."""
        return name.removeprefix(EXECUTION_KEY_PREFIX) if name.startswith(
            EXECUTION_KEY_PREFIX) else None


def ensure_project(session: Session, project_id: str, name: str | None = None) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        project = Project(id=project_id, name=name or project_id)
        session.add(project)
        session.flush()
    return project


def project_exists(session: Session, project_id: str) -> bool:
    return session.get(Project, project_id) is not None


def add_key(session: Session, project_id: str, secret: str, scopes: list[str],
            name: str = "key", expires_at: datetime | None = None) -> ApiKey:
    key = ApiKey(id=new_id(), project_id=project_id, name=name,
                 secret_hash=hash_key(secret), scopes=sorted(canonical(scopes)),
                 expires_at=expires_at)
    session.add(key)
    session.flush()
    return key


EXECUTION_KEY_PREFIX = "execution:"


def execution_key_name(execution_id: str) -> str:
    return f"{EXECUTION_KEY_PREFIX}{execution_id}"


def add_execution_key(session: Session, project_id: str, execution_id: str,
                      scopes: list[str], expires_at: datetime) -> str | None:
    """The short-lived key an execution gets (Appwrite's dynamic key): the function's
    scopes that Tocsin has, valid until the run's deadline. None without scopes."""
    granted = sorted(canonical(scopes) & set(SCOPES))
    if not granted:
        return None
    secret = new_secret()
    add_key(session, project_id, secret, granted, name=execution_key_name(execution_id),
            expires_at=expires_at)
    return secret


def revoke_execution_key(session: Session, execution_id: str) -> None:
    session.execute(delete(ApiKey).where(ApiKey.name == execution_key_name(execution_id)))


def prune_execution_keys(session: Session, now: datetime) -> int:
    """Keys of runs that never finished (a lost worker): expired, so harmless; gone."""
    return affected(session.execute(delete(ApiKey).where(
        ApiKey.name.startswith("execution:"), ApiKey.expires_at < now)))


def ensure_key(session: Session, project_id: str, secret: str) -> None:
    """Idempotent bootstrap: the all-scopes key exists for the project."""
    found = session.execute(
        select(ApiKey).where(ApiKey.secret_hash == hash_key(secret))
    ).scalar_one_or_none()
    if found is None:
        add_key(session, project_id, secret, list(SCOPES), name="bootstrap")
    elif found.project_id != project_id:
        raise ValueError("TOCSIN_BOOTSTRAP_KEY already belongs to another project")


def find_key(session: Session, secret: str) -> KeyView | None:
    digest = hash_key(secret)
    key = session.execute(select(ApiKey).where(ApiKey.secret_hash == digest)).scalar_one_or_none()
    # The lookup is by hash; comparing in constant time keeps it that way end to end.
    if key is None or not hmac.compare_digest(key.secret_hash, digest):
        return None
    run = KeyView.run_of(key.name)
    return KeyView(key.project_id, canonical(key.scopes), key.expires_at,
                   ephemeral=run is not None, execution_id=run, name=key.name)


def has_keys(session: Session, project_id: str) -> bool:
    return session.execute(
        select(ApiKey.id).where(ApiKey.project_id == project_id).limit(1)).first() is not None


def webhook_key(session: Session, project_id: str) -> str | None:
    project = session.get(Project, project_id)
    return project.webhook_key if project else None


def set_webhook_key(session: Session, project_id: str, key: str) -> None:
    """The key Appwrite signs this project's webhooks with (created if missing)."""
    ensure_project(session, project_id).webhook_key = key


def platforms(session: Session, project_id: str) -> list[str]:
    project = session.get(Project, project_id)
    return list(project.platforms or []) if project else []


def set_platforms(session: Session, project_id: str, origins: list[str]) -> None:
    """A project's browser origins (CORS), replaced whole; the project is created
    if missing, as keys create it."""
    ensure_project(session, project_id).platforms = sorted(set(origins))


def all_platforms(session: Session) -> dict[str, frozenset[str]]:
    """Every project's platforms (few projects have any; read as a whole, cached)."""
    rows = session.execute(select(Project.id, Project.platforms)).all()
    return {pid: frozenset(p) for pid, p in rows if p}
