"""`tocsin status`: who leads, since when, and whether dispatch keeps up."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from scheduler.cli.common import console, store_session
from scheduler.config import load_settings
from scheduler.rules import timerules
from scheduler.store.leases import status as read_status


def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Current leader, epoch, lease expiry, standbys, last dispatch and backlog."""
    settings = load_settings()
    with store_session(settings) as session:
        info = read_status(session, node_window=settings.lease_ttl * 3)
    lag, last = info.last_dispatch_lag_ms, info.last_dispatch_at
    view = {
        "leader": info.leader, "epoch": info.epoch,
        "lease_expires_at": timerules.iso(info.lease_expires_at),
        "standbys": info.standbys,
        "last_dispatch_at": timerules.iso(last),
        "seconds_since_dispatch": round((info.now - last).total_seconds(), 3) if last else None,
        "dispatch_lag_ms": round(lag, 1) if lag is not None else None,
        "unpublished_backlog": info.unpublished_backlog,
    }
    if as_json:
        print(json.dumps(view))
        return
    table = Table(show_header=False, title="tocsin scheduler")
    for key, value in view.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    console.print(table)
