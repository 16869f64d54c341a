"""What every command shares: the console, one way to fail, one way to open the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pendulum
from rich.console import Console
from sqlalchemy.orm import Session

from scheduler.config import Settings, load_settings
from scheduler.logs import first_line
from scheduler.rules.errors import CliError, CliUsageError, TocsinError
from scheduler.store.db import make_engine, make_sessionmaker, transaction

console = Console()


@contextmanager
def store_session(settings: Settings | None = None, doing: str = "read the job store"
                  ) -> Iterator[Session]:
    """One transaction on a short-lived engine; any database failure becomes one line."""
    engine = make_engine((settings or load_settings()).database_url,
                         application_name="tocsin cli")
    try:
        with transaction(make_sessionmaker(engine)) as session:
            yield session
    except TocsinError:
        raise
    except Exception as exc:
        raise CliError(f"cannot {doing}: {first_line(exc)}") from None
    finally:
        engine.dispose()


def parse_instant(value: str, option: str) -> datetime:
    try:
        parsed = pendulum.parse(value, tz="UTC")
    except Exception:
        raise CliUsageError(f"{option} '{value}' is not an ISO 8601 time "
                            "(e.g. 2026-03-28T12:00:00+01:00)") from None
    if not isinstance(parsed, datetime):
        raise CliUsageError(f"{option} '{value}' is not a date and time")
    return datetime.fromtimestamp(parsed.timestamp(), UTC)
