"""`tocsin cron check`: validate an expression and preview its fires, offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from scheduler.cli.common import console, parse_instant
from scheduler.rules import timerules
from scheduler.rules.errors import CliUsageError, CronError

cron_app = typer.Typer(no_args_is_help=True, help="Cron expressions.")


@cron_app.command("check")
def cron_check(
    expression: str,
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone")] = "UTC",
    after: Annotated[str | None, typer.Option(help="ISO 8601 start (default now)")] = None,
    count: Annotated[int, typer.Option(min=1, max=1000)] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Validate EXPRESSION and show its next fire times."""
    try:
        cron = timerules.parse_cron(expression)
        zone = timerules.validate_timezone(tz)
    except CronError as exc:
        if as_json:
            print(json.dumps({"valid": False, "error": str(exc)}))
            raise typer.Exit(2) from None
        raise CliUsageError(str(exc)) from None
    start = parse_instant(after, "--after") if after else datetime.now(UTC)
    fires = timerules.next_fires(cron, zone, start, count)
    rows = [{"local": f.astimezone(zone).isoformat(), "utc": timerules.iso(f)} for f in fires]
    if as_json:
        print(json.dumps({"valid": True, "expression": cron.expression, "timezone": tz,
                          "fires": rows}))
        return
    table = Table(title=f"{cron.expression}  ({tz})")
    table.add_column("local")
    table.add_column("UTC")
    for row in rows:
        table.add_row(row["local"], row["utc"])
    console.print(table)
