"""`tocsin`: one command per module; every failure ends as one readable line.

A command raises ``TocsinError`` (``CliError``, ``CliUsageError``, ``ConfigError``...);
``main`` prints its message and exits with its ``exit_code`` (2 for bad usage or
settings, 1 otherwise). Nothing else prints errors.
"""

from __future__ import annotations

import sys

import typer

from scheduler.cli import backfill as _backfill  # noqa: F401 - registers `jobs backfill`
from scheduler.cli import serve
from scheduler.cli.cron import cron_app
from scheduler.cli.deployments import deployments_app
from scheduler.cli.events import events_app
from scheduler.cli.executions import executions_app
from scheduler.cli.jobs import jobs_app
from scheduler.cli.keys import keys_app
from scheduler.cli.platforms import platforms_app
from scheduler.cli.status import status
from scheduler.rules.errors import TocsinError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Tocsin scheduler.")
app.add_typer(cron_app, name="cron")
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.add_typer(events_app, name="events")
app.add_typer(platforms_app, name="platforms")
app.add_typer(executions_app, name="executions")
app.add_typer(deployments_app, name="deployments")
app.command()(status)
serve.register(app)


def main() -> None:
    try:
        app(standalone_mode=True)
    except TocsinError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
