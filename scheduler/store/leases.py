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

Every transaction on the lease row is bounded (``db.bound``: statement, lock
and idle timeouts), so a node paused or cut off while it holds the row lock
(mid-renewal, mid-campaign) never blocks a takeover for long. A node paused
*inside a statement* (mid-``COPY``) is beyond any timeout's reach: the new
leader ends the previous holder's sessions (``end_sessions_of``) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from scheduler.faults import pause_point
from scheduler.rules.errors import FencedOut
from scheduler.store.db import affected, bound, db_now
from scheduler.store.dialect import capabilities
from scheduler.store.models import Lease, Node

LEADER = "leader"


@dataclass(frozen=True)
class LeaseView:
    held: bool
    holder: str
    epoch: int
    expires_at: datetime
    previous: str | None = None  # on a takeover: whom it was taken from


def lease_bound(ttl: float) -> float:
    """How long one lease transaction may take: well inside the TTL."""
    return max(1.0, ttl / 4)


def try_renew(session: Session, holder: str, epoch: int, ttl: float) -> LeaseView | None:
    bound(session, lease_bound(ttl))
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
    pause_point("lease.renew.locked")
    return LeaseView(True, holder, row.epoch, row.expires_at)


def campaign(session: Session, holder: str, ttl: float) -> LeaseView:
    """Take the lease if it is free or expired; otherwise report who holds it."""
    # Wait briefly (1 s) for an old leader's pinned dispatch to finish, then try later.
    bound(session, lease_bound(ttl), lock_seconds=1.0)
    row = session.execute(
        select(Lease).where(Lease.name == LEADER).with_for_update()
    ).scalar_one_or_none()
    pause_point("lease.campaign.locked")
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
        previous = row.holder
        row.holder, row.epoch = holder, row.epoch + 1
        row.acquired_at, row.renewed_at, row.expires_at = now, now, expires
        return LeaseView(True, holder, row.epoch, expires,
                         previous=previous if previous != holder else None)
    return LeaseView(False, row.holder, row.epoch, row.expires_at)


def session_tag(holder: str) -> str:
    """The ``application_name`` of a holder's database sessions."""
    return f"tocsin {holder}"[:63]


def end_sessions_of(session: Session, holder: str) -> int:
    """End every database session of a replaced leader (PostgreSQL).

    Its lease has expired, so nothing it still writes can commit (fencing); but a
    process paused inside a statement (a ``COPY`` waiting for data) is beyond
    statement and idle timeouts and would keep its claimed rows locked, hidden
    from this leader's ``SKIP LOCKED`` claims, for as long as the pause lasts.
    Needs the same database role, or ``pg_signal_backend``.
    """
    if not capabilities(session).row_locks:
        return 0
    return len(session.execute(text(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = :tag AND pid <> pg_backend_pid()"),
        {"tag": session_tag(holder)}).all())


def step_down(session: Session, holder: str, epoch: int) -> None:
    """Release early (clean shutdown) so a standby need not wait for the TTL."""
    now = db_now(session)
    session.execute(
        update(Lease)
        .where(Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch)
        .values(expires_at=now)
    )


def fence(session: Session, holder: str, epoch: int, pin: bool,
          idle_timeout: float = 1.0) -> tuple[datetime, datetime]:
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

    Returns the database's time and when this epoch's tenure began: fires that came
    due since then are on time whatever the load (see policies).
    """
    caps = capabilities(session)
    if pin:
        if caps.session_timeouts:
            session.execute(text("SET LOCAL idle_in_transaction_session_timeout = 1000"))
    else:
        bound(session, max(1.0, idle_timeout))
    now = db_now(session)
    query = select(Lease.acquired_at).where(
        Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch,
        Lease.expires_at > now,
    )
    if pin and caps.row_locks:
        query = query.with_for_update(key_share=True)
    row = session.execute(query).first()
    if row is None:
        raise FencedOut(f"{holder} no longer leads with epoch {epoch}")
    return now, row.acquired_at


def record_dispatch(session: Session, holder: str, epoch: int, at: datetime,
                    lag_ms: float | None) -> None:
    session.execute(
        update(Lease)
        .where(Lease.name == LEADER, Lease.holder == holder, Lease.epoch == epoch)
        .values(last_dispatch_at=at, last_dispatch_lag_ms=lag_ms)
    )


def heartbeat(session: Session, node: str, role: str, started_at: datetime) -> None:
    now = db_now(session)
    updated = affected(session.execute(
        update(Node).where(Node.name == node).values(last_seen_at=now, role=role)
    ))
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
