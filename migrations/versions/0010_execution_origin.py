"""an execution remembers the run that caused it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 14:10:00

An execution created with a run's own key is caused by that run: its events must
never trigger the run's function (``scheduler.rules.causes``). NULL for every other run,
so adding the column rewrites nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("origin_function_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("origin_function_id")
