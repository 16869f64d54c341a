"""users and platforms

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:00:00

* ``executions.user_id``: the signed-in user who asked for the run (from a JWT);
  that user may read it (Appwrite's ``read("user:ID")`` permission).
* ``executions.request_body_base64``: the request body is kept base64-encoded (a
  function domain's binary body; JSON and text bodies stay as they came).
* ``projects.platforms``: the origins a project's browser apps are served from
  (CORS), beside the operator's ``TOCSIN_CORS_ORIGINS``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("request_body_base64", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("platforms", sa.JSON(), nullable=False,
                                   server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("platforms")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("request_body_base64")
        batch.drop_column("user_id")
