"""overlap, jitter, backfills, skips by reason

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 21:00:00

* ``schedules.overlap`` (allow, skip, buffer_one, cancel_other) and ``jitter``
  (seconds), also on ``functions`` for their default schedule.
* ``schedules.skipped_overlap`` and the last time of each skip reason.
* ``backfills``: an operator's request to create a schedule's past fires in a window;
  the leader works through it in paced, fenced steps (``cursor_at``), so a kill
  resumes it and the (schedule, nominal time) key keeps every fire single.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("schedules", "functions"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("overlap", sa.String(length=16), nullable=False,
                                       server_default="allow"))
            batch.add_column(sa.Column("jitter", sa.Integer(), nullable=False,
                                       server_default="0"))
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("skipped_overlap", sa.BigInteger(), nullable=False,
                                   server_default="0"))
        for reason in ("missed", "paused", "disabled", "overlap"):
            batch.add_column(sa.Column(f"last_{reason}_at", sa.DateTime(timezone=True),
                                       nullable=True))
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("schedule_id", sa.String(length=36),
                  sa.ForeignKey("schedules.id", ondelete="CASCADE"), nullable=False),
        sa.Column("from_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("existing", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_backfills_running", "backfills", ["created_at"],
                    postgresql_where=sa.text("status = 'running'"),
                    sqlite_where=sa.text("status = 'running'"))


def downgrade() -> None:
    op.drop_table("backfills")
    with op.batch_alter_table("schedules") as batch:
        for reason in ("missed", "paused", "disabled", "overlap"):
            batch.drop_column(f"last_{reason}_at")
        batch.drop_column("skipped_overlap")
    for table in ("schedules", "functions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("jitter")
            batch.drop_column("overlap")
