"""Lease statements. The lease row is judged by the database clock only.

Locking (PostgreSQL), which is what makes fencing hold up to commit:

* a dispatch transaction's last statement before commit checks holder,
  epoch and expiry and takes ``FOR KEY SHARE`` on the lease row;
* the holder's renewal is a plain ``UPDATE`` of non-key columns (``FOR NO KEY
  UPDATE``), which does not wait for its own dispatches;
* a takeover takes ``FOR UPDATE``, which waits for any dispatch transaction of
  the old holder to end. An old leader paused between that check and its
  commit is cut off by ``idle_in_transaction_session_timeout`` and its
  writes roll back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from scheduler.store.db import db_now
from scheduler.store.models import Lease, Node

LEADER = "leader"


class FencedOut(Exception):
    """This node no longer holds the lease with this epoch; it must not write."""


@dataclass(frozen=True)
class LeaseView:
    held: bool
    holder: str
    epoch: int
    expires_at: datetime


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def try_renew(session: Session, holder: str, epoch: int, ttl: float) -> LeaseView | None:
    now = db_now(session)
    row = session.execute(
        update(Lease)
        .where(Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch,
               Lease.expires_at > now)
        .values(expires_at=now + timedelta(seconds=ttl), renewed_at=now)
        .returning(Lease.epoch, Lease.expires_at)
    ).first()
    if row is None:
        return None
    return LeaseView(True, holder, row.epoch, row.expires_at)


def campaign(session: Session, holder: str, ttl: float) -> LeaseView:
    """Take the lease if it is free or expired; otherwise report who holds it."""
    if _is_pg(session):
        # Wait briefly for an old leader's dispatch to finish, then try again later.
        session.execute(text("SET LOCAL lock_timeout = '1s'"))
    row = session.execute(
        select(Lease).where(Lease.name == LEADER).with_for_update()
    ).scalar_one_or_none()
    now = db_now(session)
    expires = now + timedelta(seconds=ttl)
    if row is None:
        session.execute(
            insert(Lease).values(name=LEADER, holder=holder, epoch=1, expires_at=expires,
                                 acquired_at=now, renewed_at=now)
        )
        return LeaseView(True, holder, 1, expires)
    if row.holder == holder and row.expires_at > now:
        row.expires_at, row.renewed_at = expires, now
        return LeaseView(True, holder, row.epoch, expires)
    if row.expires_at <= now:
        # Every change of holder (and every re-acquire after a lapse) bumps the epoch.
        row.holder, row.epoch = holder, row.epoch + 1
        row.acquired_at, row.renewed_at, row.expires_at = now, now, expires
        return LeaseView(True, holder, row.epoch, expires)
    return LeaseView(False, row.holder, row.epoch, row.expires_at)


def step_down(session: Session, holder: str, epoch: int) -> None:
    """Release early (clean shutdown) so a standby need not wait for the TTL."""
    now = db_now(session)
    session.execute(
        update(Lease)
        .where(Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch)
        .values(expires_at=now)
    )


def fence(session: Session, holder: str, epoch: int, pin: bool,
          idle_timeout: float = 1.0) -> datetime:
    """Prove leadership inside a dispatch transaction.

    The dispatcher calls this twice: first without ``pin``, a cheap check so a
    standby never claims rows; then with ``pin`` as the last statement before
    commit, which locks the lease row (``FOR KEY SHARE``) so no takeover can
    happen between the check and the commit.

    A leader paused mid-transaction must not keep its locks: the claimed schedule
    rows (which a successor would skip) and the pinned lease row (which would
    block the takeover). So the first call sets ``idle_timeout`` (half the TTL:
    a leader idle that long is past its own lease deadline anyway) and the pin
    tightens it to 1 s; PostgreSQL then ends the paused session and rolls back.
    """
    pg = _is_pg(session)
    if pg:
        millis = 1000 if pin else max(1000, int(idle_timeout * 1000))
        session.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {millis}"))
    now = db_now(session)
    query = select(Lease.epoch).where(
        Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch,
        Lease.expires_at > now,
    )
    if pg and pin:
        query = query.with_for_update(key_share=True)
    if session.execute(query).first() is None:
        raise FencedOut(f"{holder} no longer leads with epoch {epoch}")
    return now


def record_dispatch(session: Session, holder: str, epoch: int, at: datetime,
                    lag_ms: float | None) -> None:
    session.execute(
        update(Lease)
        .where(Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch)
        .values(last_dispatch_at=at, last_dispatch_lag_ms=lag_ms)
    )


def heartbeat(session: Session, node: str, role: str, started_at: datetime) -> None:
    now = db_now(session)
    updated = session.execute(
        update(Node).where(Node.name == node).values(last_seen_at=now, role=role)
    ).rowcount
    if not updated:
        session.execute(insert(Node).values(name=node, started_at=started_at,
                                            last_seen_at=now, role=role))


def read_lease(session: Session) -> Lease | None:
    return session.execute(select(Lease).where(Lease.name == LEADER)).scalar_one_or_none()


def recent_nodes(session: Session, within: float) -> list[Node]:
    cutoff = db_now(session) - timedelta(seconds=within)
    return list(session.execute(
        select(Node).where(Node.last_seen_at >= cutoff).order_by(Node.name)
    ).scalars())


@dataclass(frozen=True)
class StatusView:
    now: datetime
    leader: str | None
    epoch: int
    lease_expires_at: datetime | None
    standbys: list[str]
    last_dispatch_at: datetime | None
    last_dispatch_lag_ms: float | None
    unpublished_backlog: int


def status(session: Session, node_window: float) -> StatusView:
    """What `tocsin status` shows: leader, epoch, expiry, standbys, last dispatch."""
    from scheduler.store.fires import outbox_backlog

    lease = read_lease(session)
    now = db_now(session)
    nodes = recent_nodes(session, node_window)
    holder = lease.holder if lease is not None and lease.expires_at > now else None
    return StatusView(
        now=now,
        leader=holder,
        epoch=lease.epoch if lease else 0,
        lease_expires_at=lease.expires_at if lease else None,
        standbys=[n.name for n in nodes if n.name != holder],
        last_dispatch_at=lease.last_dispatch_at if lease else None,
        last_dispatch_lag_ms=lease.last_dispatch_lag_ms if lease else None,
        unpublished_backlog=outbox_backlog(session),
    )
