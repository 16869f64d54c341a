"""function variables and runtime specification

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:30:00

* ``variables``: Appwrite's function variables, handed to the function's runner as
  environment variables. A key is unique per function; deleting the function
  deletes its variables.
* ``functions.runtime_specification``: the CPU and memory its runner gets
  (Appwrite's slugs, see scheduler/rules/specifications.py).
* ``functions.description`` and ``commands``: stored as the SDKs send them (Tocsin
  runs no build commands; they are kept, not dropped).
* ``functions.scopes``: the scopes of the short-lived key each execution gets, so a
  function can call Tocsin's API back.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("runtime_specification", sa.String(length=64),
                                   nullable=False, server_default="s-1vcpu-512mb"))
        batch.add_column(sa.Column("scopes", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("description", sa.String(length=1024), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("commands", sa.Text(), nullable=False, server_default=""))
    op.create_table(
        "variables",
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("function_id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("secret", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id", "function_id"],
                                ["functions.project_id", "functions.id"],
                                name="fk_variables_function", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_variables"),
        sa.UniqueConstraint("project_id", "function_id", "key",
                            name="uq_variables_project_id_function_id_key"),
    )


def downgrade() -> None:
    op.drop_table("variables")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("commands")
        batch.drop_column("description")
        batch.drop_column("scopes")
        batch.drop_column("runtime_specification")
