"""Fair hand-over in SQL: counting a project's runs in the broker and a function's runs
in flight, and marking (handing over) or unmarking runs by ``rules.admission``.

Invariants:
* A run is in the broker iff it is ``waiting`` and marked (``enqueued_at``); every
  writer marks only what ``admit`` allows, so a project has about ``window`` runs in
  the broker (concurrent writers may each see the same count: the window is a bound
  on the order of a few runs, not to the run; a function's limit is exact, because the
  claim enforces it, ``store.executions.claim``).
* Held runs are ``waiting`` and unmarked: they are handed over oldest first by
  ``refill`` (a worker's claim returns a project's credit; a limited function's run
  ending returns the function's), and by the leader's relay as a backstop.
* Marking and unmarking never change a status: ``lifecycle`` is untouched.
* A refill holds the project's advisory lock (PostgreSQL) for its transaction, so two
  refills of one project never both use the same room.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, not_, or_, select, text, update
from sqlalchemy.orm import Session

from scheduler.rules.admission import admit, room
from scheduler.rules.states import ExecutionStatus
from scheduler.store.dialect import capabilities
from scheduler.store.models import Execution, Function

_WAITING = Execution.status == ExecutionStatus.WAITING
QUEUED = and_(_WAITING, Execution.enqueued_at.is_not(None), not_(Execution.sync))
UNMARKED = and_(_WAITING, Execution.enqueued_at.is_(None), not_(Execution.sync))
IN_FLIGHT = or_(Execution.status == ExecutionStatus.PROCESSING, QUEUED)


LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(%s))"  # PostgreSQL; the key: lock_key


def lock_key(project_id: str) -> str:
    return f"tocsin:admit:{project_id}"


def lock_project(session: Session, project_id: str) -> None:
    """Serialises admissions of one project until the transaction ends."""
    if capabilities(session).row_locks:
        session.execute(text(LOCK_SQL.replace("%s", ":k")), {"k": lock_key(project_id)})


def queued(session: Session, project_ids: Sequence[str]) -> dict[str, int]:
    """Each project's runs in the broker (marked, not yet claimed)."""
    rows = session.execute(
        select(Execution.project_id, func.count())
        .where(Execution.project_id.in_(project_ids), QUEUED)
        .group_by(Execution.project_id)).all()
    return {p: int(n) for p, n in rows}


def function_rooms(session: Session, project_id: str,
                   function_ids: Sequence[str]) -> dict[str, int | None]:
    """How many more runs each limited function may have in flight (absent: no limit)."""
    limits = dict(session.execute(
        select(Function.id, Function.max_concurrency)
        .where(Function.project_id == project_id, Function.id.in_(function_ids),
               Function.max_concurrency.is_not(None))).all())
    if not limits:
        return {}
    used = dict(session.execute(
        select(Execution.function_id, func.count())
        .where(Execution.project_id == project_id, Execution.function_id.in_(list(limits)),
               IN_FLIGHT)
        .group_by(Execution.function_id)).all())
    return {f: room(int(used.get(f, 0)), limit) for f, limit in limits.items()}


def _held(session: Session, project_id: str, limit: int) -> list[tuple[str, str]]:
    """The project's held runs, oldest first: (id, function id)."""
    return [(r.id, r.function_id) for r in session.execute(
        select(Execution.id, Execution.function_id)
        .where(Execution.project_id == project_id, UNMARKED)
        .order_by(Execution.created_at, Execution.id).limit(limit))]


def _mark(session: Session, ids: Sequence[str], now: datetime | None) -> list[str]:
    if not ids:
        return []
    state = Execution.enqueued_at.is_(None) if now is not None else Execution.enqueued_at.is_not(
        None)
    return list(session.execute(
        update(Execution).where(Execution.id.in_(ids), _WAITING, state)
        .values(enqueued_at=now).returning(Execution.id)
        .execution_options(synchronize_session=False)).scalars())


def refill(session: Session, project_id: str, window: int, now: datetime,
           at_least: int = 1) -> list[str]:
    """Hand over the project's held runs the window and their functions allow, oldest
    first; the ids marked (publish them after commit). Nothing unless the window has
    room for ``at_least`` runs: refills asked for by every claim of a busy project are
    taken in halves of the window, not one run at a time."""
    lock_project(session, project_id)
    left = room(queued(session, [project_id]).get(project_id, 0), window) or 0
    if left < max(1, at_least):
        return []
    candidates = _held(session, project_id, left + window)  # some may be limited
    rooms = function_rooms(session, project_id, sorted({f for _, f in candidates}))
    return _mark(session, admit(candidates, left, rooms), now)


def cap(session: Session, ids: Sequence[str], window: int, now: datetime) -> list[str]:
    """Runs a batch has just written marked (the dispatcher's fires and one-shots, the
    leader's event runs): keep the marks the window allows, project by project and
    after the project's older held runs (handed over now in their place); unmark the
    rest. The ids to publish."""
    if not ids:
        return []
    rows = session.execute(
        select(Execution.id, Execution.project_id, Execution.function_id)
        .where(Execution.id.in_(ids), QUEUED)).all()
    by_project: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_project[row.project_id].append((row.id, row.function_id))
    projects = sorted(by_project)
    counts = queued(session, projects)
    # Set-based for the common case, a batch spread over many projects: a project with
    # room for its whole batch, no held runs and no limited function keeps every mark.
    # Only busy projects are looked at one by one.
    holding_now = set(session.execute(
        select(Execution.project_id).where(Execution.project_id.in_(projects), UNMARKED)
        .distinct()).scalars())
    limited = set(session.execute(
        select(Function.project_id).where(
            Function.project_id.in_(projects), Function.max_concurrency.is_not(None),
            Function.id.in_({f for batch in by_project.values() for _, f in batch}))
        .distinct()).scalars())
    publish: list[str] = []
    for project_id, batch in by_project.items():
        before = counts.get(project_id, 0) - len(batch)
        if (before + len(batch) <= window and project_id not in holding_now
                and project_id not in limited):
            publish += [i for i, _ in batch]
            continue
        left = room(before, window) or 0
        older = _held(session, project_id, left + window)
        mine = {i for i, _ in batch}
        functions = sorted({f for _, f in older} | {f for _, f in batch})
        rooms = function_rooms(session, project_id, functions)
        for f, left_f in list(rooms.items()):  # the batch's own marks took some room
            if left_f is not None:
                rooms[f] = left_f + sum(1 for _, g in batch if g == f)
        chosen = admit([*older, *batch], left, rooms)
        keep = set(chosen)
        _mark(session, [i for i in mine if i not in keep], None)
        publish += [i for i in chosen if i in mine]
        publish += _mark(session, [i for i in chosen if i not in mine], now)
    order = {i: n for n, i in enumerate(ids)}
    return sorted(publish, key=lambda i: order.get(i, -1))


def admit_new(session: Session, project_id: str, function_id: str, window: int) -> bool:
    """Whether a new asynchronous run goes to the broker now (the reference create):
    no older held run of its project, room in the window and in its function's limit."""
    lock_project(session, project_id)
    if _held(session, project_id, 1):
        return False
    if not room(queued(session, [project_id]).get(project_id, 0), window):
        return False
    left = function_rooms(session, project_id, [function_id]).get(function_id)
    return left is None or left > 0


def holding(session: Session, project_id: str) -> bool:
    """Whether the project has runs held back."""
    return bool(_held(session, project_id, 1))


def projects_holding(session: Session, limit: int) -> list[str]:
    """Projects with held runs (for the relay's backstop refill)."""
    return list(session.execute(
        select(Execution.project_id).where(UNMARKED).distinct().limit(limit)).scalars())


def hold(session: Session, execution_id: str) -> bool:
    """Take a run's mark back (its function was at its limit when a worker took it);
    it waits, held, for the function's next run to end."""
    return bool(_mark(session, [execution_id], None))
