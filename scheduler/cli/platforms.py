"""`tocsin platforms`: the origins a project's browser apps are served from (CORS)."""

from __future__ import annotations

from typing import Annotated

import typer

from scheduler.cli.common import store_session
from scheduler.rules import origins
from scheduler.rules.errors import CliUsageError
from scheduler.store import projects

platforms_app = typer.Typer(no_args_is_help=True,
                            help="Browser origins a project allows (CORS platforms).")
Project = Annotated[str, typer.Option(help="project id")]


def _checked(origin: str) -> str:
    try:
        return origins.check_origin(origin)
    except origins.OriginError as exc:
        raise CliUsageError(exc.message) from None


@platforms_app.command("list")
def platforms_list(project: Project) -> None:
    """The project's platforms, one per line."""
    with store_session() as session:
        for origin in projects.platforms(session, project):
            print(origin)


@platforms_app.command("add")
def platforms_add(origin: str, project: Project) -> None:
    """Allow pages at ORIGIN (e.g. https://app.example.com) to call the project."""
    checked = _checked(origin)
    with store_session(doing="write the platforms") as session:
        projects.set_platforms(session, project,
                               [*projects.platforms(session, project), checked])
    print(f"{project}: {checked} allowed")


@platforms_app.command("remove")
def platforms_remove(origin: str, project: Project) -> None:
    """Stop allowing ORIGIN."""
    checked = _checked(origin)
    with store_session(doing="write the platforms") as session:
        current = projects.platforms(session, project)
        if checked not in current:
            raise CliUsageError(f"{checked} is not a platform of {project}")
        projects.set_platforms(session, project, [o for o in current if o != checked])
    print(f"{project}: {checked} removed")
