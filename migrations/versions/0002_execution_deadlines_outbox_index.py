"""execution deadlines and the hand-over index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:40:00

* ``executions.timeout`` and ``deadline_at``: the timeout an execution runs under,
  recorded when it starts, so the reaper never judges a run by a timeout changed
  after it began, and reaps by deadline (a short-timeout run lost behind a thousand
  long-running ones is still found first).
* ``ix_executions_handed_over``: the relay pages through waiting rows by hand-over
  time to ask the broker which of them it still holds.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PROCESSING = "status = 'processing'"
WAITING = "status = 'waiting'"


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("timeout", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_index("ix_executions_processing", table_name="executions",
                  postgresql_where=sa.text(PROCESSING), sqlite_where=sa.text(PROCESSING))
    op.create_index("ix_executions_deadline", "executions", ["deadline_at"], unique=False,
                    postgresql_where=sa.text(PROCESSING), sqlite_where=sa.text(PROCESSING))
    op.create_index("ix_executions_handed_over", "executions", ["enqueued_at", "id"],
                    unique=False, postgresql_where=sa.text(WAITING),
                    sqlite_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index("ix_executions_handed_over", table_name="executions",
                  postgresql_where=sa.text(WAITING), sqlite_where=sa.text(WAITING))
    op.drop_index("ix_executions_deadline", table_name="executions",
                  postgresql_where=sa.text(PROCESSING), sqlite_where=sa.text(PROCESSING))
    op.create_index("ix_executions_processing", "executions", ["started_at"], unique=False,
                    postgresql_where=sa.text(PROCESSING), sqlite_where=sa.text(PROCESSING))
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("deadline_at")
        batch.drop_column("timeout")
