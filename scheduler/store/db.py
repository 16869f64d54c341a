"""Engines and sessions. PostgreSQL in production, SQLite for the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from scheduler.store.dialect import capabilities

PG_KEEPALIVES: dict[str, Any] = {
    # This side: a vanished server (or a partition) is noticed in seconds, not after
    # the kernel's two hours.
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms unacknowledged data may wait before the link is dead
    # The server's side of the same connection: it notices a vanished client (whose
    # session may hold row locks mid-statement) as quickly.
    "options": "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 "
               "-c tcp_keepalives_count=3 -c tcp_user_timeout=10000",
}


def make_engine(url: str, application_name: str | None = None, **kwargs: Any) -> Engine:
    """``application_name`` tags this process's sessions in ``pg_stat_activity``: a new
    leader ends the sessions of the one it replaced by it (see store.leases)."""
    if url.startswith("sqlite"):
        for sized in ("pool_size", "max_overflow"):  # a PostgreSQL concern only
            kwargs.pop(sized, None)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the API read while the scheduler writes; FKs are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # pre_ping: a PostgreSQL restart must cost one reconnect, not a crashed daemon.
    connect_args = {**PG_KEEPALIVES, **kwargs.pop("connect_args", {})}
    if application_name:
        connect_args["application_name"] = application_name[:63]
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
    return create_engine(url, pool_pre_ping=True, pool_recycle=1800,
                         connect_args=connect_args, **kwargs)


def make_async_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """For the API's event loop (PostgreSQL, psycopg's async driver): the same store
    functions run on it through ``AsyncSession.run_sync``, with no thread."""
    return create_async_engine(url, pool_pre_ping=True, pool_recycle=1800,
                               pool_size=pool_size, max_overflow=10,
                               connect_args=dict(PG_KEEPALIVES))


def make_async_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session


def bound(session: Session, seconds: float, lock_seconds: float | None = None) -> None:
    """Bound this transaction (PostgreSQL): no statement, lock wait or idle spell in it
    may last longer than ``seconds`` (DESIGN invariant 6). A paused node's transaction
    is then ended by the server and its row locks released."""
    if not capabilities(session).session_timeouts:
        return
    millis = max(100, int(seconds * 1000))
    lock_millis = max(100, int((lock_seconds or seconds) * 1000))
    # set_config(..., true) is SET LOCAL, three in one round trip.
    session.execute(text(
        "SELECT set_config('statement_timeout', :ms, true), "
        "set_config('lock_timeout', :lock_ms, true), "
        "set_config('idle_in_transaction_session_timeout', :ms, true)"),
        {"ms": str(millis), "lock_ms": str(lock_millis)})


def db_now(session: Session) -> datetime:
    """The database's clock: the one clock every node agrees on (DESIGN invariant 5)."""
    if capabilities(session).server_clock:
        value = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return value.astimezone(UTC)
    return datetime.now(UTC)


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (``Session.execute`` is typed as returning a
    plain ``Result``; for these statements it is a ``CursorResult``)."""
    return cast(CursorResult[Any], result).rowcount


T = TypeVar("T")


def through_outage(attempt: Callable[[], T], pauses: Sequence[float],
                   on_retry: Callable[[float, OperationalError], None]) -> T:
    """``attempt()``, tried again after each of ``pauses`` while the database is away
    (``OperationalError``): for work already done whose record must not be lost to a
    short outage. The last failure is raised."""
    for pause in (*pauses, None):
        try:
            return attempt()
        except OperationalError as exc:
            if pause is None:
                raise
            on_retry(pause, exc)
            time.sleep(pause)
    raise AssertionError("unreachable")
