"""One Alembic history for PostgreSQL and SQLite, up to head and back to empty,
and the models equal to what the history builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from scheduler.store import deployment_models  # noqa: F401  (its tables in Base)
from scheduler.store.migrate import downgrade, upgrade
from scheduler.store.models import Base

EXPECTED = {"projects", "api_keys", "functions", "schedules", "executions", "leases", "nodes",
            "variables", "deployments", "deployment_chunks"}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tocsin.db'}"
    return request.getfixturevalue("empty_pg_url")


def test_upgrade_then_downgrade(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_engine(empty_url)
    assert set(inspect(engine).get_table_names()) >= EXPECTED
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Types are compared loosely (UTCDateTime is a DateTime underneath).
    assert [d for d in diff if d[0] != "modify_type"] == []
    downgrade(empty_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_unique_fire_key_exists(empty_url: str) -> None:
    upgrade(empty_url)
    engine = create_engine(empty_url)
    uniques = inspect(engine).get_unique_constraints("executions")
    assert any(u["column_names"] == ["schedule_id", "scheduled_for"] for u in uniques)
    indexes = {i["name"] for i in inspect(engine).get_indexes("schedules")}
    assert "ix_schedules_due" in indexes
    engine.dispose()
