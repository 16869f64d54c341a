"""`tocsin events`: recent events and what each ran; `tocsin events webhook-key`."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

import typer
from rich.table import Table

from scheduler.cli.common import console, store_session
from scheduler.cli.humanize import relative
from scheduler.rules.errors import CliUsageError
from scheduler.rules.timerules import iso
from scheduler.store import events as store
from scheduler.store.db import db_now
from scheduler.store.projects import set_webhook_key

events_app = typer.Typer(help="Events: recent ones with their fan-out; webhook keys.",
                         invoke_without_command=True)


def event_row(view: store.EventView) -> dict[str, Any]:
    e = view.event
    return {
        "id": e.id, "project": e.project_id, "event": e.name, "source": e.source,
        "event_id": e.event_key, "depth": e.depth, "created": iso(e.created_at),
        "fanned_out": iso(e.fanned_out_at), "stopped": e.stopped,
        "executions": [{"function": f, "execution": x, "status": s}
                       for f, x, s in view.executions],
    }


def _ran(view: store.EventView) -> str:
    if view.event.stopped:
        return f"stopped: chain depth {view.event.depth}"
    if view.event.fanned_out_at is None:
        return "pending"
    return ", ".join(f"{f} ({s})" for f, _, s in view.executions) or "-"


@events_app.callback()
def events(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Option(help="only this project")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="every field")] = False,
) -> None:
    """Recent events, newest first: which functions each ran, or why none."""
    if ctx.invoked_subcommand is not None:
        return
    with store_session() as session:
        now = db_now(session)
        views = store.recent(session, project, limit)
        if as_json:
            print(json.dumps([event_row(v) for v in views]))
            return
        table = Table(title=f"{len(views)} event(s), newest first")
        for name in ("when", "event", "source", "ran"):
            table.add_column(name, overflow="fold")
        for view in views:
            table.add_row(relative(view.event.created_at, now), view.event.name,
                          view.event.source, _ran(view))
    console.print(table)


@events_app.command("webhook-key")
def webhook_key(
    project: Annotated[str, typer.Option(help="project id (created if missing)")],
    key: Annotated[str | None, typer.Option(
        help="the signature key Appwrite shows for the webhook; default: a new one")] = None,
) -> None:
    """Set the key Appwrite webhooks to this project are signed with, and print it."""
    if key is not None and not 16 <= len(key) <= 256:
        raise CliUsageError("--key must be 16 to 256 characters")
    secret = key or secrets.token_hex(32)
    with store_session(doing="write the webhook key") as session:
        set_webhook_key(session, project, secret)
    print(secret)
