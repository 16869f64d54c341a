"""What a worker process holds, made on first use (prefork children must not share
connections): its settings, database sessions, fast statements, result channel and
broker publisher, its bookkeeping thread, and the hand-over of a project's held runs
(``refill``) that claims and ended runs ask for."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from scheduler.broker.publish import Publisher, make_publisher
from scheduler.broker.results import ResultChannel, make_results
from scheduler.config import Settings, get_settings
from scheduler.logs import first_line, get_logger
from scheduler.store import admission
from scheduler.store.db import db_now, make_engine, make_sessionmaker, transaction
from scheduler.store.fires import mark_enqueued
from scheduler.store.worker_statements import WorkerStatements
from tasks import cancel
from tasks.bookkeeping import Bookkeeper

log = get_logger(__name__)

_lock = threading.Lock()
_state: dict[str, Any] = {}


def resources() -> tuple[Settings, sessionmaker[Session], ResultChannel]:
    """Per process, created lazily: prefork children must not share connections."""
    with _lock:
        if "settings" not in _state:
            settings = get_settings()
            _state["settings"] = settings
            cancel.listen(settings)
            _state["sessions"] = make_sessionmaker(make_engine(settings.database_url))
            _state["results"] = make_results(settings.result_backend_url)
            # The broker's hand-over record (Redis only; the embedded broker keeps its own).
            _state["ledger"] = (make_publisher(settings.broker_url)
                                if settings.broker_url.startswith(("redis://", "rediss://"))
                                else None)
            fast = settings.worker_fast_path and settings.database_url.startswith(
                "postgresql")
            _state["fast"] = WorkerStatements(settings.database_url) if fast else None
        return _state["settings"], _state["sessions"], _state["results"]


def bookkeeper() -> Bookkeeper:
    """This process's bookkeeping thread (``tasks.bookkeeping``), made with its resources."""
    with _lock:
        if "bookkeeper" not in _state:
            ledger = _state.get("ledger")
            _state["bookkeeper"] = Bookkeeper(
                ledger.forget if ledger is not None else None, _refill_now)
        return _state["bookkeeper"]


def _refill_now(project_id: str, at_least: int) -> None:
    settings, sessions, _ = resources()
    refill(sessions, settings, project_id, at_least)


def refill(sessions: sessionmaker[Session], settings: Settings, project_id: str,
           at_least: int = 1) -> None:
    """Hand over the project's held runs its window and functions now allow (a claim
    returned a credit, or a limited function's run ended) and publish them. A failure
    leaves them to the leader's relay, which refills every project as a backstop."""
    to = publisher(settings)
    if to is None:
        return
    try:
        ids = _refill_fast(project_id, settings.project_window, at_least)
        if ids is None:
            with transaction(sessions) as session:
                ids = admission.refill(session, project_id, settings.project_window,
                                       db_now(session), at_least)
    except Exception as exc:
        log.warning("admission.refill_failed", project_id=project_id, error=first_line(exc))
        return
    if not ids:
        return
    try:
        to.publish(ids)
    except Exception as exc:
        log.warning("publish.failed", count=len(ids), error=first_line(exc))
        try:
            with transaction(sessions) as session:
                mark_enqueued(session, ids, None)
        except Exception as unmark:  # still marked: the relay's requeue sends them later
            log.warning("publish.unmark_failed", count=len(ids), error=first_line(unmark))
    log.info("admission.refilled", project_id=project_id, count=len(ids))


def _refill_fast(project_id: str, window: int, at_least: int) -> list[str] | None:
    """The fast path's refill (one transaction, no ORM; it was a third of a held
    backlog's worker CPU); None sends it to the reference refill."""
    statements = _state.get("fast")
    if statements is None:
        return None
    try:
        ids: list[str] | None = statements.refill(project_id, window, at_least)
        return ids
    except Exception as exc:
        log.warning("admission.fast_refill_failed", project_id=project_id,
                    error=first_line(exc))
        return None


def use_publisher(publisher: Publisher) -> None:
    """The in-process broker of ``tocsin up`` hands refilled runs to itself."""
    _state["publisher"] = publisher


def publisher(settings: Settings) -> Publisher | None:
    with _lock:
        if "publisher" not in _state:
            memory = settings.broker_url.startswith("memory://")
            _state["publisher"] = None if memory else make_publisher(settings.broker_url)
        return _state["publisher"]


def fast() -> WorkerStatements | None:
    """The fast path's statements (``store.worker_statements``); None: PostgreSQL is not
    the store, or ``TOCSIN_WORKER_FAST_PATH`` is off."""
    if "settings" not in _state:
        resources()
    statements: WorkerStatements | None = _state.get("fast")
    return statements
