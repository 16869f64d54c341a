"""`tocsin deployments`: the functions' uploaded code and its builds, for operators;
``logs`` prints one build's output. Read-only: uploads, activation and cancels are the
API's and the console's (they need a project's key)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from scheduler.cli.common import console, store_session
from scheduler.cli.humanize import relative
from scheduler.cli.jobs import Json
from scheduler.rules.errors import CliError
from scheduler.store import deployments as store
from scheduler.store.db import db_now
from scheduler.store.deployment_models import Deployment
from scheduler.store.documents import deployment_json

deployments_app = typer.Typer(help="Deployments: list them, read a build's logs.",
                              invoke_without_command=True)
Project = Annotated[str | None, typer.Option("--project", "-p")]
_COLOUR = {"ready": "green", "failed": "red", "canceled": "bright_black"}


def _row(d: Deployment, active: bool) -> dict[str, Any]:
    return {**deployment_json(d), "projectId": d.project_id, "active": active}


@deployments_app.callback()
def deployments_cmd(
    ctx: typer.Context,
    project: Project = None,
    function: Annotated[str | None, typer.Option("--function", "-f")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Json = False,
) -> None:
    """List deployments, newest first."""
    if ctx.invoked_subcommand:
        return
    with store_session() as session:
        now = db_now(session)
        found = store.recent(session, project, function, limit)
        rows = [_row(d, active) for d, active in found]
        created = [d.created_at for d, _ in found]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(title=f"{len(rows)} deployment(s), newest first")
    for name in ("id", "project", "function", "status", "active", "size", "created", "build s"):
        table.add_column(name, overflow="fold")
    for r, at in zip(rows, created, strict=True):
        c = _COLOUR.get(r["status"], "yellow")
        table.add_row(r["$id"], r["projectId"], r["resourceId"], f"[{c}]{r['status']}[/{c}]",
                      "yes" if r["active"] else "", f"{r['sourceSize']:,}", relative(at, now),
                      str(r["buildDuration"]))
    console.print(table)


@deployments_app.command("logs")
def logs(deployment_id: str, project: Project = None) -> None:
    """Print a deployment's build logs."""
    with store_session() as session:
        found = store.find(session, deployment_id, project)
        if not found:
            raise CliError(f"no deployment with id '{deployment_id}' (see `tocsin deployments`)")
        if len(found) > 1:
            raise CliError(f"deployment id '{deployment_id}' is in several projects: name one "
                           "with --project")
        d = found[0]
        text, status = d.build_logs, d.status
    print(text if text else f"(no build output; status {status})")
