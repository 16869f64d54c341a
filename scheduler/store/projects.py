"""Projects and API keys. Keys are stored as sha256 hashes only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.ids import new_id
from scheduler.store.models import ApiKey, Project

SCOPES = ("functions.read", "functions.write", "executions.read", "executions.write",
          "scheduler.read", "scheduler.write")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return "tocsin_" + secrets.token_hex(32)


@dataclass(frozen=True)
class KeyView:
    project_id: str
    scopes: frozenset[str]
    expires_at: datetime | None


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
                 secret_hash=hash_key(secret), scopes=sorted(set(scopes)), expires_at=expires_at)
    session.add(key)
    session.flush()
    return key


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
    return KeyView(key.project_id, frozenset(key.scopes), key.expires_at)


def has_keys(session: Session, project_id: str) -> bool:
    return session.execute(
        select(ApiKey.id).where(ApiKey.project_id == project_id).limit(1)).first() is not None
