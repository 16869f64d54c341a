"""retries and dead letters: a policy on functions and schedules, attempts linked

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 04:00:00

A function or schedule may carry a retry policy (``retry``, JSON; NULL: no retries).
Each attempt of a run is its own execution row: ``attempt`` (1 for a first run) and
``retry_of`` (the first attempt's id); the pair is unique, so a retry is written once.
``dead`` marks a failed run with no attempt to follow; ``functions.dead_letters``
counts them for the metric. Columns with constant defaults rewrite no table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("retry", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("dead_letters", sa.BigInteger(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("retry", sa.JSON(), nullable=True))
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False,
                                   server_default="1"))
        batch.add_column(sa.Column("retry_of", sa.String(36), nullable=True))
        batch.add_column(sa.Column("dead", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.create_unique_constraint("uq_executions_retry_attempt", ["retry_of", "attempt"])
    op.create_index("ix_executions_dead", "executions",
                    ["project_id", "function_id", "created_at"],
                    postgresql_where=sa.text("dead"), sqlite_where=sa.text("dead = 1"))


def downgrade() -> None:
    op.drop_index("ix_executions_dead", table_name="executions")
    with op.batch_alter_table("executions") as batch:
        batch.drop_constraint("uq_executions_retry_attempt", type_="unique")
        batch.drop_column("dead")
        batch.drop_column("retry_of")
        batch.drop_column("attempt")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("retry")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("dead_letters")
        batch.drop_column("retry")
