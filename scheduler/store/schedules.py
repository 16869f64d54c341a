"""Schedule state changes that must account for the fires they skip."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from scheduler.rules.policies import skipped_while_inactive
from scheduler.rules.timerules import parse_cron
from scheduler.store.db import db_now
from scheduler.store.dialect import capabilities
from scheduler.store.models import Schedule

WAKEUP_CHANNEL = "tocsin_wakeup"

Reason = Literal["paused", "disabled"]


_local_listeners: list[Callable[[], None]] = []


def add_local_listener(callback: Callable[[], None]) -> None:
    """In-process wake-ups where there is no LISTEN/NOTIFY (SQLite, `tocsin up`)."""
    _local_listeners.append(callback)


def _wake_local(_session: Session) -> None:
    for callback in list(_local_listeners):
        callback()


def notify_wakeup(session: Session) -> None:
    """Tell the leader its earliest due time may have moved (delivered on commit)."""
    if capabilities(session).notify:
        session.execute(text(f"NOTIFY {WAKEUP_CHANNEL}"))
    elif _local_listeners and not event.contains(session, "after_commit", _wake_local):
        event.listen(session, "after_commit", _wake_local, once=True)


def listen_wakeups(url: str, stop: threading.Event, on_wake: Callable[[], None]) -> None:
    """Block on LISTEN until ``stop``; call ``on_wake`` per notification. Raises on
    connection loss so the caller can reconnect."""
    import psycopg

    from scheduler.store.db import PG_KEEPALIVES

    with psycopg.connect(url, autocommit=True, **PG_KEEPALIVES) as conn:
        conn.execute(f"LISTEN {WAKEUP_CHANNEL}")
        while not stop.is_set():
            for _ in conn.notifies(timeout=1.0, stop_after=1):
                on_wake()


def set_inactive(session: Session, schedule: Schedule, reason: Reason, on: bool,
                 note: str = "") -> int:
    """Pause/disable or resume/enable. On the way back, every fire time that
    passed meanwhile is counted as skipped with ``reason``. Returns that count."""
    flag = "paused" if reason == "paused" else "disabled"
    if on:
        setattr(schedule, flag, True)
        if reason == "paused":
            schedule.pause_note = note
        return 0
    if not getattr(schedule, flag):
        return 0
    setattr(schedule, flag, False)
    if reason == "paused":
        schedule.pause_note = ""
    if schedule.paused or schedule.disabled:
        return 0  # still inactive for the other reason: count when that ends
    now = db_now(session)
    count, last, upcoming = skipped_while_inactive(
        parse_cron(schedule.cron), ZoneInfo(schedule.timezone), schedule.next_fire_at, now)
    if count:
        counter = f"skipped_{reason}"
        setattr(schedule, counter, getattr(schedule, counter) + count)
        schedule.last_skipped_at = last
        schedule.last_skip_reason = reason
        setattr(schedule, f"last_{reason}_at", last)
    schedule.next_fire_at = upcoming
    notify_wakeup(session)
    return count
