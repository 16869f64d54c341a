"""Shared fixtures: real PostgreSQL databases made fresh for the run, real Redis."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

# In-process apps and workers read the same settings: the test functions are modules
# under tests.fixtures, and the servers the http runtime calls are on loopback.
os.environ.setdefault("TOCSIN_ENTRYPOINT_MODULES", "tests.fixtures")
os.environ.setdefault("TOCSIN_HTTP_DENY_PRIVATE", "false")

PG_ADMIN_URL = os.environ.get(
    "TOCSIN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TOCSIN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _admin():
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def create_pg_database(prefix: str = "tocsin_t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = _admin()
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = _admin()
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def pg_url_session() -> Iterator[str]:
    """One migrated database for the whole run; tests clean it with `pg_url`."""
    from scheduler.store.migrate import upgrade

    url = create_pg_database()
    upgrade(url)
    yield url
    drop_pg_database(url)


TABLES = ("executions", "schedules", "functions", "api_keys", "projects", "leases", "nodes",
          "events")


@pytest.fixture
def pg_url(pg_url_session: str) -> Iterator[str]:
    """The migrated database, emptied before each test."""
    empty_database(pg_url_session)
    yield pg_url_session


def empty_database(url: str) -> None:
    """Every table of Tocsin's emptied (a module's own stack starts from nothing)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(TABLES) + " CASCADE"))
    engine.dispose()


@pytest.fixture
def store(pg_url: str):
    from tests.helpers import Store

    s = Store(pg_url)
    yield s
    s.close()


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A Redis database of its own for each test, emptied before and after."""
    import redis

    db = 1 + (os.getpid() % 14)
    url = REDIS_URL.rsplit("/", 1)[0] + f"/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    with contextlib.suppress(Exception):
        client.flushdb()
    client.close()

