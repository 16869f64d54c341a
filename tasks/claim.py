"""Claiming a run: the only way one starts. Moving its row ``waiting -> processing``
is one atomic statement (the fast path, ``store.worker_statements``) or one transaction
(the reference path, ``store.executions.claim``); a duplicate or stale message finds
nothing to claim. The claim also says what the run needs: its function, variables,
timeout and, for a function with scopes, its own API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from scheduler.config import Settings
from scheduler.logs import first_line, get_logger
from scheduler.rules import lifecycle
from scheduler.store import admission, projects, variables
from scheduler.store import executions as store
from scheduler.store.db import db_now, transaction
from scheduler.store.models import Execution, Function
from scheduler.store.worker_statements import FastClaim, RunFunction, RunRow
from tasks import worker_process

log = get_logger(__name__)

DISABLED_ERROR = "Function is disabled: executions already queued for it are not run."


@dataclass(frozen=True)
class Claimed:
    """A claimed run, as either path returns it."""

    execution: Execution | RunRow
    function: Function | RunFunction
    timeout: float  # what this run may take
    capped: bool  # the timeout is the synchronous limit, not the function's own
    variables: dict[str, str]
    key: str | None  # the run's own API key (x-appwrite-key), if the function has scopes
    fast: FastClaim | None = None  # claimed by the fast path: it may record the outcome
    refill: bool = False  # the project's window has room and it has runs held back


def _timeout(settings: Settings, ex: Execution | RunRow, fn: Function | RunFunction
             ) -> tuple[float, bool]:
    """What this run may take, and whether that is the synchronous limit (a cut-off
    run then answers 408) rather than the function's own timeout."""
    capped = ex.sync and settings.sync_timeout < float(fn.timeout)
    return (settings.sync_timeout if capped else float(fn.timeout)), capped


def claim(sessions: sessionmaker[Session], settings: Settings, execution_id: str
           ) -> Claimed | None:
    """Claim the row, recording the timeout it runs under, and read the function's
    variables with it: one statement on the fast path (``store.worker_statements``),
    else one transaction. A disabled function's queued run is failed here, not run."""
    fast = worker_process.fast()
    if fast is not None:
        try:
            got = fast.claim(execution_id, settings.sync_timeout, settings.project_window)
        except Exception as exc:  # its connection failed: the reference path decides
            log.warning("execution.fast_claim_failed", execution_id=execution_id,
                        error=first_line(exc))
            got = None
        if got is not None:
            timeout, capped = _timeout(settings, got.execution, got.function)
            return Claimed(got.execution, got.function, timeout, capped,
                        got.variables, None, fast=got,
                        refill=got.holding and _low(got.queued, settings.project_window))

    def limit(ex: Execution, fn: Function) -> int:
        return int(min(float(fn.timeout), settings.sync_timeout) if ex.sync else fn.timeout)

    with transaction(sessions) as session:
        now = db_now(session)
        claimed = store.claim(session, execution_id, now, limit)
        if claimed is None:
            return None
        ex, fn = claimed.execution, claimed.function
        if not fn.enabled:
            store.finish(session, ex.id, lifecycle.FAIL,
                         {"errors": DISABLED_ERROR, "response_status_code": 500}, now,
                         failure=None)  # retrying a disabled function helps nobody
            return Claimed(ex, fn, 0.0, False, {}, None)
        env = variables.environment(session, fn.project_id, fn.id)
        timeout, capped = _timeout(settings, ex, fn)
        key = projects.add_execution_key(session, fn.project_id, ex.id, fn.scopes,
                                         now + timedelta(seconds=timeout + 5))
        refill = admission.holding(session, fn.project_id) and _low(
            admission.queued(session, [fn.project_id]).get(fn.project_id, 0),
            settings.project_window)
    return Claimed(ex, fn, timeout, capped, env, key, refill=refill)


def _low(queued: int, window: int) -> bool:
    """A project's window is refilled in halves: one refill per half a window of claims,
    not one per claim (the claimed run still counts in ``queued`` here)."""
    return queued - 1 <= window // 2
