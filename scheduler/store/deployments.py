"""Deployments as the API and the builders change them.

Invariants:
* A deployment belongs to one function of one project; every read is keyed by both,
  so one project's deployment is invisible to another (404, as a missing one).
* An upload is complete when all of its chunk indexes are stored. Each chunk's request
  stores its bytes, *then* locks the deployment's row and counts: the last of any
  number of concurrent chunks to take the lock sees every other one committed, so
  exactly one request completes the upload (and emits ``create``).
* Only a complete ``waiting`` deployment, or one whose builder's lease ran out, is
  claimed for a build; a claim sets a new ``build_token``, and a build's outcome is
  written only under the token that claimed it: a builder that lost its lease (or a
  canceled build) writes nothing.
* A function runs its active deployment (``functions.deployment_id``); activation is
  one row update, so every run claimed after it runs the new code and every run
  claimed before it the old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scheduler.rules.deployments import IN_BUILD, Chunk, Kind, Status
from scheduler.rules.errors import (
    BuildAlreadyFinished,
    BuildNotReady,
    ContentRangeInvalid,
    DeploymentNotFound,
)
from scheduler.store import events
from scheduler.store.db import affected, db_now
from scheduler.store.deployment_models import Deployment, DeploymentChunk
from scheduler.store.documents import deployment_json
from scheduler.store.models import Function

# Attribute -> column, for filters, order and cursors (Appwrite's names).
COLUMNS: dict[str, Any] = {
    "buildSize": Deployment.build_size, "sourceSize": Deployment.source_size,
    "totalSize": Deployment.source_size + Deployment.build_size,
    "buildDuration": Deployment.build_duration, "status": Deployment.status,
    "activate": Deployment.activate, "type": Deployment.type,
    "entrypoint": Deployment.entrypoint,
    "$createdAt": Deployment.created_at, "$updatedAt": Deployment.updated_at,
    "$id": Deployment.id,
}


@dataclass(frozen=True)
class Upload:
    """What one request of an upload carries besides its bytes."""

    deployment_id: str
    entrypoint: str
    commands: str
    activate: bool
    type: str


def get(session: Session, fn: Function, deployment_id: str, lock: bool = False) -> Deployment:
    query = select(Deployment).where(Deployment.project_id == fn.project_id,
                                     Deployment.function_id == fn.id,
                                     Deployment.id == deployment_id)
    if lock:
        query = query.with_for_update()
    found = session.execute(query).scalar_one_or_none()
    if found is None:
        raise DeploymentNotFound()
    return found


def _changed(session: Session, d: Deployment, action: str) -> None:
    """``functions.[functionId].deployments.[deploymentId].create|update|delete``."""
    name = f"functions.{d.function_id}.deployments.{d.id}.{action}"
    if "." not in d.function_id and "." not in d.id:
        events.emit(session, d.project_id, name, deployment_json(d), source="tocsin",
                    only_if_subscribed=True)


def upload_chunk(session: Session, fn: Function, upload: Upload, chunk: Chunk,
                 data: bytes) -> tuple[Deployment, bool]:
    """Store one chunk (creating the deployment with its first); returns it and whether
    this request completed the upload. A chunk sent again replaces its bytes."""
    now = db_now(session)
    d = session.execute(select(Deployment).where(
        Deployment.project_id == fn.project_id, Deployment.id == upload.deployment_id)
    ).scalar_one_or_none()
    if d is None:
        d = Deployment(project_id=fn.project_id, id=upload.deployment_id, function_id=fn.id,
                       entrypoint=upload.entrypoint, commands=upload.commands,
                       activate=upload.activate, type=upload.type, status=Status.WAITING,
                       source_size=chunk.size, build_size=0, chunks_total=chunk.total,
                       chunks_uploaded=0, build_logs="", build_duration=0.0,
                       created_at=now, updated_at=now)
        try:
            with session.begin_nested():  # another chunk of the same new id, at once
                session.add(d)
                session.flush()
        except IntegrityError:
            session.expunge(d)
            return upload_chunk(session, fn, upload, chunk, data)
    if d.function_id != fn.id:
        raise DeploymentNotFound()
    if (d.chunks_total, d.source_size) != (chunk.total, chunk.size):
        raise ContentRangeInvalid(
            f"The content range is invalid: deployment {d.id} is a {d.source_size:,}-byte "
            f"upload in {d.chunks_total} chunks.")
    if d.chunks_uploaded >= d.chunks_total:
        return d, False  # complete already: a repeated chunk changes nothing
    session.execute(delete(DeploymentChunk).where(*_chunks_of(d, Kind.SOURCE),
                                                  DeploymentChunk.idx == chunk.index))
    session.add(DeploymentChunk(project_id=d.project_id, deployment_id=d.id,
                                kind=Kind.SOURCE, idx=chunk.index, data=data))
    session.flush()
    # After our bytes (see the invariants), and FOR NO KEY UPDATE: each chunk's insert
    # holds a KEY SHARE lock on this row (its foreign key), which FOR UPDATE would wait
    # on, concurrent chunks deadlocking each other.
    session.refresh(d, with_for_update={"key_share": True})
    count = session.execute(select(func.count()).select_from(DeploymentChunk).where(
        *_chunks_of(d, Kind.SOURCE))).scalar_one()
    completed = count >= d.chunks_total > d.chunks_uploaded
    d.chunks_uploaded = count
    d.updated_at = now
    if completed:
        fn = _function(session, d, lock=True) or fn
        fn.latest_deployment_id = d.id
        fn.latest_deployment_created_at = d.created_at
        fn.latest_deployment_status = d.status
        _changed(session, d, "create")
    session.flush()
    return d, completed


def _chunks_of(d: Deployment, kind: Kind) -> list[Any]:
    return [DeploymentChunk.project_id == d.project_id,
            DeploymentChunk.deployment_id == d.id, DeploymentChunk.kind == kind]


def _function(session: Session, d: Deployment, lock: bool = False) -> Function | None:
    """The deployment's function; ``lock``: FOR NO KEY UPDATE, which a concurrent upload's
    insert (KEY SHARE on the function, for its foreign key) does not block."""
    query = select(Function).where(Function.project_id == d.project_id,
                                   Function.id == d.function_id)
    if lock:
        query = query.with_for_update(key_share=True)
    return session.execute(query).scalar_one_or_none()


def _status(session: Session, d: Deployment, status: Status) -> None:
    """Move ``d`` to ``status``, and the function's ``latestDeploymentStatus`` with it."""
    d.status = status
    session.execute(update(Function).where(
        Function.project_id == d.project_id, Function.id == d.function_id,
        Function.latest_deployment_id == d.id).values(latest_deployment_status=status))


def bytes_of(session: Session, d: Deployment, kind: Kind) -> bytes:
    """A deployment's upload or build, whole (at most the size limit: it fits memory)."""
    rows = session.execute(select(DeploymentChunk.data).where(*_chunks_of(d, kind))
                           .order_by(DeploymentChunk.idx)).scalars()
    return b"".join(rows)


def activate(session: Session, fn: Function, d: Deployment) -> Function:
    """Make ``d`` the code ``fn`` runs from its next claimed run on (Appwrite's
    ``updateFunctionDeployment``)."""
    if d.status != Status.READY:
        raise BuildNotReady()
    fn.deployment_id = d.id
    fn.deployment_created_at = d.created_at
    fn.updated_at = db_now(session)
    session.flush()
    events.function_changed(session, fn, "update")
    return fn


def remove(session: Session, fn: Function, d: Deployment) -> None:
    """Delete ``d`` with its bytes; a function whose active (or newest) deployment it
    was no longer names it."""
    _changed(session, d, "delete")
    session.execute(delete(DeploymentChunk).where(
        DeploymentChunk.project_id == d.project_id, DeploymentChunk.deployment_id == d.id))
    session.delete(d)
    session.flush()
    if fn.deployment_id == d.id:
        fn.deployment_id, fn.deployment_created_at = "", None
    if fn.latest_deployment_id == d.id:
        newest = session.execute(select(Deployment).where(
            Deployment.project_id == fn.project_id, Deployment.function_id == fn.id,
            Deployment.chunks_uploaded >= Deployment.chunks_total)
            .order_by(Deployment.created_at.desc()).limit(1)).scalar_one_or_none()
        fn.latest_deployment_id = newest.id if newest else ""
        fn.latest_deployment_created_at = newest.created_at if newest else None
        fn.latest_deployment_status = newest.status if newest else ""
    fn.updated_at = db_now(session)
    session.flush()


def cancel(session: Session, d: Deployment) -> Deployment:
    """Appwrite's ``updateDeploymentStatus``: a build not finished ends ``canceled``; its
    builder, if any, then writes nothing (its token no longer matches)."""
    if Status(d.status).finished:
        raise BuildAlreadyFinished()
    _status(session, d, Status.CANCELED)
    d.build_token = None
    d.lease_until = None
    d.updated_at = db_now(session)
    session.flush()
    _changed(session, d, "update")
    return d


# ------------------------------------------------------------------------------ builders


def claim_build(session: Session, lease: float, token: str) -> Deployment | None:
    """The oldest deployment ready to build (or whose builder's lease ran out), now
    ``processing`` under ``token``; None when there is none."""
    now = db_now(session)
    query = select(Deployment).where(or_(
        (Deployment.status == Status.WAITING)
        & (Deployment.chunks_uploaded >= Deployment.chunks_total),
        Deployment.status.in_(list(IN_BUILD)) & (Deployment.lease_until < now),
    )).order_by(Deployment.created_at).limit(1).with_for_update(skip_locked=True)
    d = session.execute(query).scalar_one_or_none()
    if d is None:
        return None
    _status(session, d, Status.PROCESSING)
    d.build_token, d.lease_until = token, now + timedelta(seconds=lease)
    d.build_logs, d.updated_at = "", now
    session.flush()
    return d


def owned(session: Session, project_id: str, deployment_id: str, token: str
          ) -> Deployment | None:
    """The deployment, locked, if ``token``'s build still holds it."""
    d = session.execute(select(Deployment).where(
        Deployment.project_id == project_id, Deployment.id == deployment_id,
        Deployment.build_token == token, Deployment.status.in_(list(IN_BUILD)))
        .with_for_update()).scalar_one_or_none()
    return d


def renew(session: Session, project_id: str, deployment_id: str, token: str,
          lease: float) -> bool:
    """Extend ``token``'s lease; False when its build no longer holds the deployment
    (canceled, or taken over): the builder then stops it."""
    d = owned(session, project_id, deployment_id, token)
    if d is None:
        return False
    d.lease_until = db_now(session) + timedelta(seconds=lease)
    return True


def building(session: Session, project_id: str, deployment_id: str, token: str) -> bool:
    d = owned(session, project_id, deployment_id, token)
    if d is None:
        return False
    _status(session, d, Status.BUILDING)
    d.updated_at = db_now(session)
    return True


def finish_build(session: Session, project_id: str, deployment_id: str, token: str,
                 logs: str, duration: float, artifact: bytes | None,
                 chunk_size: int) -> Deployment | None:
    """Record a build under ``token``: ``ready`` with its artifact (activated when the
    upload asked for it), or ``failed``. None: the build lost its claim (nothing
    written)."""
    d = owned(session, project_id, deployment_id, token)
    if d is None:
        return None
    now = db_now(session)
    d.build_logs, d.build_duration = logs, duration
    d.build_token, d.lease_until, d.updated_at = None, None, now
    if artifact is None:
        _status(session, d, Status.FAILED)
    else:
        session.execute(delete(DeploymentChunk).where(*_chunks_of(d, Kind.BUILD)))
        session.add_all(DeploymentChunk(project_id=d.project_id, deployment_id=d.id,
                                        kind=Kind.BUILD, idx=i // chunk_size,
                                        data=artifact[i:i + chunk_size])
                        for i in range(0, len(artifact), chunk_size))
        d.build_size = len(artifact)
        _status(session, d, Status.READY)
        fn = _function(session, d, lock=True)
        if d.activate and fn is not None:
            activate(session, fn, d)
    session.flush()
    _changed(session, d, "update")
    return d


def ready_build(session: Session, project_id: str, deployment_id: str
                ) -> tuple[Deployment, bytes] | None:
    """A ready deployment and its built artifact, for a worker about to run it."""
    d = session.execute(select(Deployment).where(
        Deployment.project_id == project_id, Deployment.id == deployment_id,
        Deployment.status == Status.READY)).scalar_one_or_none()
    if d is None:
        return None
    return d, bytes_of(session, d, Kind.BUILD)


def recent(session: Session, project_id: str | None, function_id: str | None,
           limit: int) -> list[tuple[Deployment, bool]]:
    """Deployments newest first (an operator's list, across projects unless one is
    named), each with whether it is its function's active one."""
    query = (select(Deployment, Function.deployment_id == Deployment.id)
             .join(Function, (Function.project_id == Deployment.project_id)
                   & (Function.id == Deployment.function_id))
             .order_by(Deployment.created_at.desc(), Deployment.id).limit(limit))
    if project_id:
        query = query.where(Deployment.project_id == project_id)
    if function_id:
        query = query.where(Deployment.function_id == function_id)
    return [(d, bool(active)) for d, active in session.execute(query).all()]


def find(session: Session, deployment_id: str, project_id: str | None) -> list[Deployment]:
    """Deployments with this id (one per project at most), for an operator's command."""
    query = select(Deployment).where(Deployment.id == deployment_id)
    if project_id:
        query = query.where(Deployment.project_id == project_id)
    return list(session.execute(query).scalars())


def prune_abandoned(session: Session, cutoff: datetime) -> int:
    """Drop uploads that stopped before their last chunk and got none since ``cutoff``
    (a client that gave up): their chunks would otherwise stay forever."""
    return affected(session.execute(delete(Deployment).where(
        Deployment.chunks_uploaded < Deployment.chunks_total, Deployment.updated_at < cutoff)
        .execution_options(synchronize_session=False)))
