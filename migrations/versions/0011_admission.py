"""fair hand-over: a project's window in the broker and a function's maxConcurrency

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:30:00

A project has at most ``TOCSIN_PROJECT_WINDOW`` asynchronous runs handed to the broker
and not yet claimed; the rest wait, unmarked, in PostgreSQL and are handed over oldest
first as the project's runs are claimed (``scheduler.rules.admission``). A function may
limit how many of its runs are in flight (``max_concurrency``, NULL: no limit). The
three partial indexes count and find exactly those rows; adding the column rewrites
nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

QUEUED = "status = 'waiting' AND enqueued_at IS NOT NULL AND NOT sync"
UNMARKED = "status = 'waiting' AND enqueued_at IS NULL AND NOT sync"
RUNNING = "status = 'processing'"


def _index(name: str, columns: list[str], where: str) -> None:
    op.create_index(name, "executions", columns, postgresql_where=sa.text(where),
                    sqlite_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
    _index("ix_executions_queued", ["project_id", "function_id"], QUEUED)
    _index("ix_executions_unmarked", ["project_id", "created_at", "id"], UNMARKED)
    _index("ix_executions_running", ["project_id", "function_id"], RUNNING)


def downgrade() -> None:
    for name in ("ix_executions_running", "ix_executions_unmarked", "ix_executions_queued"):
        op.drop_index(name, table_name="executions")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("max_concurrency")
