"""function interval

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 17:00:00

* ``functions.interval``: Appwrite's "minutes between scheduled executions" (0: none),
  the alternative to a cron ``schedule``. Stored and validated; see the README for
  what runs it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("interval", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("interval")
