"""`tocsin keys create`: API keys, printed once (only their hash is stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from scheduler.cli.common import store_session
from scheduler.rules.errors import CliUsageError
from scheduler.rules.scopes import ACCEPTED, SCOPES
from scheduler.store.projects import add_key, ensure_project, new_secret

keys_app = typer.Typer(no_args_is_help=True, help="API keys.")


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option(help="project id (created if missing)")],
    scope: Annotated[list[str] | None, typer.Option(help="repeat; default all scopes")] = None,
    name: Annotated[str, typer.Option()] = "key",
    expires_in_days: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    scopes = scope or list(SCOPES)
    unknown = sorted(set(scopes) - set(ACCEPTED))
    if unknown:
        raise CliUsageError(f"unknown scope(s) {', '.join(unknown)}; "
                            f"allowed: {', '.join(ACCEPTED)}")
    secret = new_secret()
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with store_session(doing="write the key") as session:
        ensure_project(session, project)
        add_key(session, project, secret, scopes, name=name, expires_at=expires)
    print(secret)
