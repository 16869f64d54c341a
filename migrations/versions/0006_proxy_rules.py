"""proxy rules: domains that run functions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 18:00:00

* ``proxy_rules``: Appwrite's Proxy API rules of type function. A domain is unique
  across projects; deleting the function deletes its rules.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_rules",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("function_id", sa.String(length=36), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id", "function_id"],
                                ["functions.project_id", "functions.id"],
                                name="fk_proxy_rules_function", ondelete="CASCADE"),
    )
    op.create_index("ix_proxy_rules_project", "proxy_rules", ["project_id", "created_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_table("proxy_rules")
