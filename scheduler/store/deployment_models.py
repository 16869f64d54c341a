"""Tables of deployments: a function's uploaded code, its build, and their bytes.

Beside ``models`` (which is long enough): the same ``Base``, so the migration test and
Alembic see these tables once this module is imported (``migrations/env.py`` does).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from scheduler.store.models import Base, UTCDateTime, _belongs_to_function, _now


class Deployment(Base):
    """One upload of a function's code (a ``tar.gz``) and its build.

    ``status`` follows ``rules.deployments.Status``; a row whose chunks are not all
    here yet is ``waiting`` with ``chunks_uploaded < chunks_total`` and is never built.
    ``lease_until`` and ``build_token``: the builder that claimed it, and until when; a
    build past its lease (its worker died) is claimed again.
    """

    __tablename__ = "deployments"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    function_id: Mapped[str] = mapped_column(String(36))
    entrypoint: Mapped[str] = mapped_column(String(1024))
    commands: Mapped[str] = mapped_column(Text, default="")
    activate: Mapped[bool] = mapped_column(Boolean, default=False)
    type: Mapped[str] = mapped_column(String(16), default="manual")
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    source_size: Mapped[int] = mapped_column(BigInteger, default=0)
    build_size: Mapped[int] = mapped_column(BigInteger, default=0)
    chunks_total: Mapped[int] = mapped_column(Integer, default=1)
    chunks_uploaded: Mapped[int] = mapped_column(Integer, default=0)
    build_logs: Mapped[str] = mapped_column(Text, default="")
    build_duration: Mapped[float] = mapped_column(Float, default=0.0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    build_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now,
                                                 onupdate=func.now())

    __table_args__ = (
        _belongs_to_function("fk_deployments_function"),
        Index("ix_deployments_function", "project_id", "function_id", "created_at"),
        Index("ix_deployments_status", "status"),
    )


class DeploymentChunk(Base):
    """The bytes of a deployment: its upload (``kind`` ``source``, one row per 5 MiB
    chunk as the SDKs send them) and its built artifact (``build``), in the database so
    that every worker reaches them with no shared disk."""

    __tablename__ = "deployment_chunks"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    deployment_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        ForeignKeyConstraint(["project_id", "deployment_id"],
                             ["deployments.project_id", "deployments.id"],
                             ondelete="CASCADE", name="fk_deployment_chunks_deployment"),
    )
