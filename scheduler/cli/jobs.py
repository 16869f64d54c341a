"""`tocsin jobs`: the job table for operators (and the execution rows `tocsin executions`
prints, ``cli.executions``).

Tables fit an 80-column terminal: relative times ("in 42s", "3m ago") and local
``HH:MM``; ``--wide`` adds the full ISO times and ``--json`` prints every field.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from scheduler.cli.common import console, store_session
from scheduler.cli.humanize import clock, relative
from scheduler.rules.errors import CliError
from scheduler.rules.states import ExecutionStatus, Trigger
from scheduler.rules.timerules import iso, next_fires, parse_cron
from scheduler.store import functions as fn_store
from scheduler.store.db import db_now
from scheduler.store.models import Execution, Schedule

jobs_app = typer.Typer(help="Schedules: next and last fires, pauses, skips.",
                       invoke_without_command=True)
STATUSES = tuple(ExecutionStatus)
TRIGGERS = tuple(Trigger)
_COLOUR = {ExecutionStatus.COMPLETED: "green", ExecutionStatus.FAILED: "red",
           ExecutionStatus.PROCESSING: "cyan", ExecutionStatus.WAITING: "yellow"}
Json = Annotated[bool, typer.Option("--json", help="every field, full ISO 8601 times")]
Wide = Annotated[bool, typer.Option("--wide", "-w", help="add full ISO 8601 times")]


def schedule_row(s: Schedule) -> dict[str, Any]:
    zone = ZoneInfo(s.timezone)
    return {
        "id": s.id, "project": s.project_id, "function": s.function_id, "key": s.key,
        "cron": s.cron, "timezone": s.timezone,
        "next_fire_local": s.next_fire_at.astimezone(zone).isoformat(),
        "next_fire_utc": iso(s.next_fire_at), "last_fire_utc": iso(s.last_fire_at),
        "paused": s.paused, "pause_note": s.pause_note, "disabled": s.disabled,
        "policy": s.missed_policy, "overlap": s.overlap, "jitter": s.jitter,
        "skipped": {"missed": s.skipped_missed, "paused": s.skipped_paused,
                    "disabled": s.skipped_disabled, "overlap": s.skipped_overlap},
        "last_skipped": {"missed": iso(s.last_missed_at), "paused": iso(s.last_paused_at),
                         "disabled": iso(s.last_disabled_at),
                         "overlap": iso(s.last_overlap_at)},
        "last_skipped_utc": iso(s.last_skipped_at), "last_skip_reason": s.last_skip_reason,
    }


def execution_row(e: Execution) -> dict[str, Any]:
    return {
        "id": e.id, "project": e.project_id, "function": e.function_id, "trigger": e.trigger,
        "status": e.status, "scheduled_for": iso(e.scheduled_for),
        "scheduled_at": iso(e.scheduled_at), "created": iso(e.created_at),
        "started": iso(e.started_at), "finished": iso(e.finished_at),
        "code": e.response_status_code, "duration": e.duration, "attempts": e.attempts,
        "attempt": e.attempt, "retry_of": e.retry_of, "dead": e.dead,
        "errors": e.errors.splitlines()[-1][:120] if e.errors else "",
    }


def _state(row: dict[str, Any]) -> str:
    if row["disabled"]:
        return "[red]disabled[/red]"
    if row["paused"]:
        return f"[yellow]paused[/yellow] {row['pause_note']}".strip()
    return "[green]active[/green]"


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def print_schedules(rows: list[dict[str, Any]], now: datetime, wide: bool = False) -> None:
    table = Table(title=f"{len(rows)} schedule(s)", expand=False)
    columns = ["function", "key", "cron", "tz", "next", "last", "state", "skip m/p/d/o"]
    if wide:
        columns[4:6] = ["next (local)", "next (UTC)", "last (UTC)"]
        columns.append("overlap, jitter")
    for name in columns:
        table.add_column(name, overflow="fold")
    for r in rows:
        sk = r["skipped"]
        zone = ZoneInfo(r["timezone"])
        nxt, last = _at(r["next_fire_utc"]), _at(r["last_fire_utc"])
        times = ([r["next_fire_local"], r["next_fire_utc"], r["last_fire_utc"] or "-"] if wide
                 else [f"{relative(nxt, now)} ({clock(nxt, zone, now)})", relative(last, now)])
        extra = [f"{r['overlap']}, {r['jitter']} s"] if wide else []
        table.add_row(r["function"], r["key"], r["cron"], r["timezone"], *times, _state(r),
                      f"{sk['missed']}/{sk['paused']}/{sk['disabled']}/{sk['overlap']}",
                      *extra)
    console.print(table)


def print_executions(rows: list[dict[str, Any]], title: str, now: datetime,
                     wide: bool = False) -> None:
    table = Table(title=title)
    for name in ("id", "function", "trigger", "status", "for / at", "created", "code", "s",
                 "error"):
        table.add_column(name, overflow="fold")
    for r in rows:
        c = _COLOUR.get(r["status"], "white")
        when = r["scheduled_for"] or r["scheduled_at"]
        shown = (when or "-", r["created"]) if wide else (
            relative(_at(when), now), relative(_at(r["created"]), now))
        table.add_row(r["id"], r["function"], r["trigger"], f"[{c}]{r['status']}[/{c}]",
                      *shown, str(r["code"]), f"{r['duration']:.3f}", r["errors"])
    console.print(table)


@jobs_app.callback()
def jobs(
    ctx: typer.Context,
    function: Annotated[str | None, typer.Option("--function", "-f")] = None,
    as_json: Json = False,
    wide: Wide = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
) -> None:
    """List schedules, earliest next fire first."""
    if ctx.invoked_subcommand:
        return
    with store_session() as session:
        now = db_now(session)
        rows = [schedule_row(s) for s in fn_store.list_schedules(session, None, function, limit)]
    if as_json:
        print(json.dumps(rows))
    else:
        print_schedules(rows, now, wide)


@jobs_app.command("show")
def show(
    schedule_id: str,
    runs: Annotated[int, typer.Option(min=0, max=1000)] = 10,
    fires: Annotated[int, typer.Option(min=0, max=1000)] = 5,
    as_json: Json = False,
    wide: Wide = False,
) -> None:
    """One schedule with its last N executions, next N fires and skips by reason."""
    with store_session() as session:
        now = db_now(session)
        sched = fn_store.get_schedule(session, None, schedule_id)
        if sched is None:
            raise CliError(f"no schedule with id '{schedule_id}' (see `tocsin jobs`)")
        row = schedule_row(sched)
        recent = [execution_row(e) for e in fn_store.recent_executions(session, sched.id, runs)]
    zone = ZoneInfo(sched.timezone)
    upcoming = next_fires(parse_cron(sched.cron), zone, sched.next_fire_at, fires - 1) \
        if fires else []
    coming = [sched.next_fire_at, *upcoming][:fires]
    row["next_fires"] = [{"local": f.astimezone(zone).isoformat(), "utc": iso(f)}
                         for f in coming]
    row["executions"] = recent
    if as_json:
        print(json.dumps(row))
        return
    print_schedules([row], now, wide)
    table = Table(title="next fires")
    for name in ("in", "local", "UTC"):
        table.add_column(name)
    for f, shown in zip(coming, row["next_fires"], strict=True):
        table.add_row(relative(f, now), shown["local"], shown["utc"])
    console.print(table)
    skips = Table(title="skips by reason")
    for name in ("reason", "count", "last"):
        skips.add_column(name)
    for reason, count in row["skipped"].items():
        last = row["last_skipped"][reason]
        skips.add_row(reason, str(count), (last or "-") if wide else relative(_at(last), now))
    console.print(skips)
    print_executions(recent, f"last {len(recent)} execution(s)", now, wide)
