"""`tocsin jobs backfill ID --from T --to T [--dry-run]`: a schedule's past fires.

The command records the backfill; the scheduler's leader creates the fires in paced
steps, and the command follows its progress (Ctrl-C stops following, not the work:
`tocsin jobs backfill-status ID` picks it up again).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scheduler.cli.common import console, parse_instant, store_session
from scheduler.cli.jobs import jobs_app
from scheduler.rules import backfillwindow
from scheduler.rules.errors import CliError, CliUsageError
from scheduler.rules.timerules import iso
from scheduler.store import backfills as store
from scheduler.store import functions as fn_store
from scheduler.store.db import db_now

FOLLOW_EVERY = 0.5  # seconds between progress reads


def _summary(b: store.Backfill) -> dict[str, object]:
    return {"id": b.id, "schedule": b.schedule_id, "from": iso(b.from_at), "to": iso(b.to_at),
            "total": b.total, "created": b.created, "existing": b.existing,
            "status": b.status}


@jobs_app.command("backfill")
def backfill(
    schedule_id: str,
    from_: Annotated[str, typer.Option("--from", help="ISO 8601, inclusive")],
    to: Annotated[str, typer.Option("--to", help="ISO 8601, exclusive; in the past")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only")] = False,
    wait: Annotated[bool, typer.Option(help="follow progress until done")] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a schedule's fires in [FROM, TO) that do not exist yet, each at most once."""
    from_at, to_at = parse_instant(from_, "--from"), parse_instant(to, "--to")
    with store_session(doing="write the backfill") as session:
        now = db_now(session)
        sched = fn_store.get_schedule(session, None, schedule_id)
        if sched is None:
            raise CliError(f"no schedule with id '{schedule_id}' (see `tocsin jobs`)")
        try:
            backfillwindow.check(from_at, to_at, now)
            total = store.window_fires(sched, from_at, to_at)
            backfillwindow.check_count(total)
        except backfillwindow.WindowError as exc:
            raise CliUsageError(f"--{exc.field}: {exc.message}") from None
        if dry_run:
            first = store.first_fires(sched, from_at - timedelta(microseconds=1), to_at, 10)
            shown = {"total": total, "first_fires": [iso(t) for t in first]}
            print(json.dumps(shown) if as_json else
                  f"{total} fire(s) in the window; first: "
                  f"{', '.join(str(iso(t)) for t in first) or '-'}")
            return
        made = store.create(session, sched, from_at, to_at, total, now)
        backfill_id = made.id
    if not wait:
        print(json.dumps({"id": backfill_id, "total": total}) if as_json else backfill_id)
        return
    follow(backfill_id, as_json)


@jobs_app.command("backfill-status")
def follow(backfill_id: str,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Follow a backfill until it is done (or print its state with --json)."""
    with store_session() as session:
        found = store.get(session, None, backfill_id)
        if found is None:
            raise CliError(f"no backfill with id '{backfill_id}'")
        state = _summary(found)
    if as_json:
        print(json.dumps(state))
        return
    with Progress(TextColumn("backfill {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TextColumn("{task.fields[note]}"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(backfill_id, total=int(str(state["total"])) or 1, note="")
        while True:
            done = int(str(state["created"])) + int(str(state["existing"]))
            bar.update(task, completed=done, note=f"{state['existing']} already existed")
            if state["status"] != store.RUNNING:
                break
            time.sleep(FOLLOW_EVERY)
            with store_session() as session:
                found = store.get(session, None, backfill_id)
                assert found is not None
                state = _summary(found)
    print(f"{state['status']}: {state['created']} created, {state['existing']} already "
          f"existed, of {state['total']}")
