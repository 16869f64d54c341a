"""`tocsin executions`: list runs (``--dead`` for dead letters), and act on one: ``rerun``
a finished run with its original request, ``cancel`` a waiting or running one.

The actions are the API's (``api.routes.execution_actions``), taken on the store
directly as every operator command is, with the same rules and answers.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer

from scheduler.broker import cancels, enqueue
from scheduler.broker.publish import make_publisher
from scheduler.cli.common import parse_instant, store_session
from scheduler.cli.jobs import STATUSES, TRIGGERS, Json, Wide, execution_row, print_executions
from scheduler.config import Settings, load_settings
from scheduler.rules.errors import CliError, CliUsageError
from scheduler.rules.states import ExecutionStatus
from scheduler.store import executions as exec_store
from scheduler.store import retries
from scheduler.store.db import db_now, make_engine, make_sessionmaker
from scheduler.store.models import Execution

executions_app = typer.Typer(help="Executions: list them, re-run or cancel one.",
                             invoke_without_command=True)


@executions_app.callback()
def executions_cmd(
    ctx: typer.Context,
    function: Annotated[str | None, typer.Option("--function", "-f")] = None,
    status: Annotated[str | None, typer.Option(help="|".join(STATUSES))] = None,
    trigger: Annotated[str | None, typer.Option(help="|".join(TRIGGERS))] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601, e.g. 2026-11-28T00:00:00Z")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="dead letters only: runs that "
                                       "failed with no retry left")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    as_json: Json = False,
    wide: Wide = False,
) -> None:
    """List executions, newest first, with filters."""
    if ctx.invoked_subcommand:
        return
    if status and status not in STATUSES:
        raise CliUsageError(f"--status '{status}' is not one of {', '.join(STATUSES)}")
    if trigger and trigger not in TRIGGERS:
        raise CliUsageError(f"--trigger '{trigger}' is not one of {', '.join(TRIGGERS)}")
    start = parse_instant(since, "--since") if since else None
    with store_session() as session:
        now = db_now(session)
        rows = [execution_row(e) for e in
                exec_store.recent(session, function, status, trigger, start, limit, dead)]
    if as_json:
        print(json.dumps(rows))
    else:
        title = "dead letter(s)" if dead else "execution(s)"
        print_executions(rows, f"{len(rows)} {title}, newest first", now, wide)


def _one(session: object, execution_id: str) -> Execution:
    execution = session.get(Execution, execution_id)  # type: ignore[attr-defined]
    if execution is None:
        raise CliError(f"no execution with id '{execution_id}' (see `tocsin executions`)")
    return execution


@executions_app.command("rerun")
def rerun(execution_id: str, as_json: Json = False) -> None:
    """Run a finished execution again with its original request: a new attempt,
    linked to the first (retryOf), after every attempt so far."""
    settings = load_settings()
    with store_session(settings, "re-run the execution") as session:
        old = _one(session, execution_id)
        if not ExecutionStatus(old.status).finished:
            raise CliError(f"execution '{execution_id}' is {old.status}: only a finished "
                           "one (completed or failed) can be re-run")
        first_id, attempt = retries.next_attempt(session, old)
        execution = enqueue.create(session, enqueue.again(old, first_id, attempt),
                                   window=settings.project_window)
        row = execution_row(execution)
    if enqueue.handed(execution):
        _hand_over(settings, execution.id)
    print(json.dumps(row) if as_json else
          f"{execution.id}: attempt {attempt} of run {first_id}, {execution.status}")


def _hand_over(settings: Settings, execution_id: str) -> None:
    """Publish it; the relay sends it instead when this process cannot (an embedded
    broker lives in ``tocsin up``'s process)."""
    sessions = make_sessionmaker(make_engine(settings.database_url,
                                             application_name="tocsin cli"))
    if settings.broker_url.startswith("memory://"):
        from scheduler.store.db import transaction
        from scheduler.store.fires import mark_enqueued

        with transaction(sessions) as session:
            mark_enqueued(session, [execution_id], None)
        return
    publisher = make_publisher(settings.broker_url)
    try:
        enqueue.hand_over(sessions, publisher, execution_id)
    finally:
        publisher.close()


@executions_app.command("cancel")
def cancel(execution_id: str) -> None:
    """Fail a waiting or running execution now and stop its runner; never retried."""
    settings = load_settings()
    by = f"operator '{getpass.getuser()}' (tocsin CLI)"
    with store_session(settings, "cancel the execution") as session:
        execution = _one(session, execution_id)
        if not exec_store.cancel(session, execution.id, by, db_now(session)):
            raise CliError(f"execution '{execution_id}' is {execution.status}: only a "
                           "waiting or processing one can be cancelled")
    try:
        cancels.announce(cancels.redis_url(settings.broker_url, settings.result_backend_url),
                         execution_id)
    except Exception as exc:
        raise CliError(f"cancelled, but its worker could not be told ({exc}): its runner "
                       "stops at its timeout") from None
    print(f"{execution_id}: cancelled")
