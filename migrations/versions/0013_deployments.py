"""deployments: a function's uploaded code, its build, and their bytes

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 07:00:00

``deployments`` holds one row per upload (status, sizes, build logs, the build's
lease); ``deployment_chunks`` holds the bytes, the upload's chunks and the built
artifact, so that every worker reaches them without a shared disk. A function names
its active deployment (``deployment_id``) and its newest, as Appwrite's document does;
an execution, the deployment it ran (set when it is claimed).
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("deployment_id", sa.String(36), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("deployment_created_at", sa.DateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column("latest_deployment_id", sa.String(36), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("latest_deployment_created_at", sa.DateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column("latest_deployment_status", sa.String(16), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("deployment_id", sa.String(36), nullable=False,
                                   server_default=""))
    op.create_table(
        "deployments",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("function_id", sa.String(36), nullable=False),
        sa.Column("entrypoint", sa.String(1024), nullable=False),
        sa.Column("commands", sa.Text(), nullable=False),
        sa.Column("activate", sa.Boolean(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source_size", sa.BigInteger(), nullable=False),
        sa.Column("build_size", sa.BigInteger(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_uploaded", sa.Integer(), nullable=False),
        sa.Column("build_logs", sa.Text(), nullable=False),
        sa.Column("build_duration", sa.Float(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("build_token", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "id", name="pk_deployments"),
        sa.ForeignKeyConstraint(["project_id", "function_id"],
                                ["functions.project_id", "functions.id"],
                                ondelete="CASCADE", name="fk_deployments_function"),
    )
    op.create_index("ix_deployments_function", "deployments",
                    ["project_id", "function_id", "created_at"])
    op.create_index("ix_deployments_status", "deployments", ["status"])
    op.create_table(
        "deployment_chunks",
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("deployment_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "deployment_id", "kind", "idx",
                                name="pk_deployment_chunks"),
        sa.ForeignKeyConstraint(["project_id", "deployment_id"],
                                ["deployments.project_id", "deployments.id"],
                                ondelete="CASCADE", name="fk_deployment_chunks_deployment"),
    )


def downgrade() -> None:
    op.drop_table("deployment_chunks")
    op.drop_index("ix_deployments_status", table_name="deployments")
    op.drop_index("ix_deployments_function", table_name="deployments")
    op.drop_table("deployments")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("deployment_id")
    with op.batch_alter_table("functions") as batch:
        for column in ("latest_deployment_status", "latest_deployment_created_at",
                       "latest_deployment_id", "deployment_created_at", "deployment_id"):
            batch.drop_column(column)
