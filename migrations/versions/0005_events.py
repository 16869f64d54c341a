"""events: the outbox of things that happened, and the index of subscriptions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 17:30:00

* ``events``: each event under every name it is published as; ``fanned_out_at``
  NULL marks the outbox (the leader turns these into executions). ``event_key`` is a
  publisher's ``eventId``: unique per project, so a repeat is a no-op.
* ``event_subscriptions``: one row per pattern of a function's ``events``, indexed by
  (project, pattern): an event's names are looked up, no function is scanned.
* ``executions.event_id`` / ``depth``: the event that made a run, unique with the
  function (one execution per event and function), and its depth in a chain.
* ``projects.webhook_key``: the signature key of Appwrite webhooks sent to Tocsin.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PENDING = "fanned_out_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_key", sa.String(length=128), nullable=True),
        sa.Column("origin_function_id", sa.String(length=36), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fanned_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executions", sa.Integer(), nullable=False),
        sa.Column("stopped", sa.String(length=16), nullable=False),
        sa.UniqueConstraint("project_id", "event_key", name="uq_events_key"),
    )
    op.create_index("ix_events_pending", "events", ["created_at", "id"], unique=False,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.create_index("ix_events_created", "events", ["created_at"], unique=False)
    op.create_table(
        "event_subscriptions",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("function_id", sa.String(length=36), nullable=False),
        sa.Column("pattern", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(["project_id", "function_id"],
                                ["functions.project_id", "functions.id"],
                                name="fk_event_subscriptions_function", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "function_id", "pattern"),
    )
    op.create_index("ix_event_subscriptions_pattern", "event_subscriptions",
                    ["project_id", "pattern"], unique=False)
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("event_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("depth", sa.Integer(), nullable=False, server_default="0"))
        batch.create_unique_constraint("uq_executions_event_function",
                                       ["event_id", "function_id"])
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("webhook_key", sa.String(length=256), nullable=True))
    # Subscriptions of functions that already list events.
    conn = op.get_bind()
    functions = sa.table("functions", sa.column("project_id"), sa.column("id"),
                         sa.column("events", sa.JSON()))
    subscriptions = sa.table("event_subscriptions", sa.column("project_id"),
                             sa.column("function_id"), sa.column("pattern"))
    rows = [{"project_id": p, "function_id": f, "pattern": e}
            for p, f, events in conn.execute(sa.select(functions))
            for e in sorted(set(events or []))]
    if rows:
        op.bulk_insert(subscriptions, rows)


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("webhook_key")
    with op.batch_alter_table("executions") as batch:
        batch.drop_constraint("uq_executions_event_function", type_="unique")
        batch.drop_column("depth")
        batch.drop_column("event_id")
    op.drop_table("event_subscriptions")
    op.drop_table("events")
