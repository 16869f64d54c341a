"""Tables. The migration in ``migrations/versions`` is the schema's history; these
models must stay equal to its head (a test compares them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from scheduler.rules.policies import (
    DEFAULT_CATCHUP_CAP,
    DEFAULT_CATCHUP_WINDOW,
    DEFAULT_MISFIRE_GRACE,
    Policy,
)
from scheduler.rules.specifications import DEFAULT as DEFAULT_SPEC


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on PostgreSQL (timestamptz) and SQLite alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _belongs_to_function(name: str) -> ForeignKeyConstraint:
    """Rows of a function (schedules, executions, variables) are deleted with it."""
    return ForeignKeyConstraint(["project_id", "function_id"],
                                ["functions.project_id", "functions.id"],
                                ondelete="CASCADE", name=name)


def _partial_index(name: str, *columns: str, where: str,
                   sqlite_where: str | None = None) -> Index:
    """An index over the rows ``where`` selects, on PostgreSQL and SQLite alike."""
    return Index(name, *columns, postgresql_where=text(where),
                 sqlite_where=text(sqlite_where or where))


def _now() -> datetime:
    return datetime.now(UTC)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    # The signature key of the Appwrite webhooks pointed at Tocsin (None: refused).
    webhook_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # Origins of the project's browser apps (CORS), e.g. "https://app.example.com".
    platforms: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    # sha256 of the whole key: the secret itself is never stored.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class Function(Base):
    __tablename__ = "functions"
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    runtime: Mapped[str] = mapped_column(String(64))
    execute: Mapped[list[str]] = mapped_column(JSON, default=list)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    schedule: Mapped[str] = mapped_column(String(256), default="")
    timeout: Mapped[int] = mapped_column(Integer, default=15)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    logging: Mapped[bool] = mapped_column(Boolean, default=True)
    entrypoint: Mapped[str] = mapped_column(String(1024), default="")
    url: Mapped[str] = mapped_column(String(2048), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    missed_policy: Mapped[str] = mapped_column(String(16), default=Policy.LATEST)
    misfire_grace: Mapped[int] = mapped_column(Integer, default=DEFAULT_MISFIRE_GRACE)
    catchup_window: Mapped[int] = mapped_column(Integer, default=DEFAULT_CATCHUP_WINDOW)
    catchup_cap: Mapped[int] = mapped_column(Integer, default=DEFAULT_CATCHUP_CAP)
    runtime_specification: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_SPEC, server_default=DEFAULT_SPEC)
    # Scopes of the key each execution gets (``x-appwrite-key``), expiring with the run.
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    description: Mapped[str] = mapped_column(String(1024), default="", server_default="")
    commands: Mapped[str] = mapped_column(Text, default="", server_default="")
    interval: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    overlap: Mapped[str] = mapped_column(String(16), default="allow", server_default="allow")
    jitter: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # At most this many of its asynchronous runs in flight (handed over or running);
    # None: no limit (``scheduler.rules.admission``; Tocsin's own, Appwrite has none).
    max_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Its retry policy's document (``rules.retries``; None: a failed run stays failed),
    # and how many of its runs ended as dead letters (a counter: never decreases).
    retry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    dead_letters: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Its active deployment ('' : none, the code its entrypoint names runs) and its
    # newest one, as Appwrite's Function document reports them (``store.deployments``).
    deployment_id: Mapped[str] = mapped_column(String(36), default="", server_default="")
    deployment_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    latest_deployment_id: Mapped[str] = mapped_column(String(36), default="",
                                                      server_default="")
    latest_deployment_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime,
                                                                          nullable=True)
    latest_deployment_status: Mapped[str] = mapped_column(String(16), default="",
                                                          server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now,
                                                 onupdate=func.now())


class Variable(Base):
    """A function's variable: an environment variable of its runner. A ``secret`` one's
    value is never returned by the API after it is written."""

    __tablename__ = "variables"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    function_id: Mapped[str] = mapped_column(String(36))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now,
                                                 onupdate=func.now())

    __table_args__ = (
        _belongs_to_function("fk_variables_function"),
        UniqueConstraint("project_id", "function_id", "key"),
    )


class Schedule(Base):
    """One recurring cron. ``next_fire_at`` is the nominal time of the next fire."""

    __tablename__ = "schedules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(36))
    function_id: Mapped[str] = mapped_column(String(36))
    # 'default' is the function's own `schedule`; others are operator extras.
    key: Mapped[str] = mapped_column(String(64), default="default")
    cron: Mapped[str] = mapped_column(String(256))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    next_fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_note: Mapped[str] = mapped_column(String(512), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    missed_policy: Mapped[str] = mapped_column(String(16), default=Policy.LATEST)
    misfire_grace: Mapped[int] = mapped_column(Integer, default=DEFAULT_MISFIRE_GRACE)
    catchup_window: Mapped[int] = mapped_column(Integer, default=DEFAULT_CATCHUP_WINDOW)
    catchup_cap: Mapped[int] = mapped_column(Integer, default=DEFAULT_CATCHUP_CAP)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    skipped_missed: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped_paused: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped_disabled: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped_overlap: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_skipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_skip_reason: Mapped[str] = mapped_column(String(16), default="")
    last_missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_overlap_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    overlap: Mapped[str] = mapped_column(String(16), default="allow", server_default="allow")
    jitter: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Its fires' retry policy, over the function's (None: the function's).
    retry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now,
                                                 onupdate=func.now())

    __table_args__ = (
        _belongs_to_function("fk_schedules_function"),
        UniqueConstraint("project_id", "function_id", "key"),
        # The due scan: only runnable schedules, earliest first.
        _partial_index("ix_schedules_due", "next_fire_at", "id",
                       where="NOT paused AND NOT disabled",
                       sqlite_where="paused = 0 AND disabled = 0"),
    )


class Execution(Base):
    __tablename__ = "executions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(36))
    function_id: Mapped[str] = mapped_column(String(36))
    schedule_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("schedules.id", ondelete="SET NULL"), nullable=True
    )
    # Nominal fire time of a cron run; with schedule_id the duplicate guard.
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A one-shot's requested time (Appwrite's scheduledAt).
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    sync: Mapped[bool] = mapped_column(Boolean, default=False)
    request_method: Mapped[str] = mapped_column(String(8), default="POST")
    request_path: Mapped[str] = mapped_column(Text, default="/")
    request_headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    request_body: Mapped[str] = mapped_column(Text, default="")
    request_body_base64: Mapped[bool] = mapped_column(Boolean, default=False,
                                                      server_default=false())
    # The signed-in user who asked for it (JWT); readable by that user.
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    response_status_code: Mapped[int] = mapped_column(Integer, default=0)
    response_headers: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    logs: Mapped[str] = mapped_column(Text, default="")
    errors: Mapped[str] = mapped_column(Text, default="")
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    epoch: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, onupdate=func.now())
    # The timeout this run started under and when it runs out (database clock):
    # the reaper judges by these, never by the function's current timeout.
    timeout: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The event that made this run (trigger "event"); with function_id, the guard that
    # one event runs one function once. ``depth``: links in its chain of events.
    event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The function whose run created this one with its own key (``scheduler.rules.causes``):
    # this run's events never trigger it.
    origin_function_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Retries (``rules.retries``): this row's attempt (1 for a first run), the first
    # attempt's id (None for the first), and whether it failed with no attempt to follow.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    retry_of: Mapped[str | None] = mapped_column(String(36), nullable=True)
    dead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The deployment the run ran (its function's active one when it was claimed; '':
    # the function's entrypoint, no deployment).
    deployment_id: Mapped[str] = mapped_column(String(36), default="", server_default="")

    __table_args__ = (
        _belongs_to_function("fk_executions_function"),
        UniqueConstraint("schedule_id", "scheduled_for"),
        UniqueConstraint("event_id", "function_id", name="uq_executions_event_function"),
        Index("ix_executions_listing", "project_id", "function_id", "created_at", "id"),
        _partial_index("ix_executions_due_oneshots", "scheduled_at", "id",
                       where="status = 'scheduled'"),
        # The outbox: waiting rows, to (re)publish those the broker never got.
        _partial_index("ix_executions_waiting", "updated_at", where="status = 'waiting'"),
        _partial_index("ix_executions_deadline", "deadline_at", where="status = 'processing'"),
        # The relay pages through handed-over rows to ask the broker about them.
        _partial_index("ix_executions_handed_over", "enqueued_at", "id",
                       where="status = 'waiting'"),
        # Fair hand-over (``store.admission``): a project's runs in the broker, its runs
        # held back in PostgreSQL (oldest first), and each function's running ones.
        _partial_index("ix_executions_queued", "project_id", "function_id",
                       where="status = 'waiting' AND enqueued_at IS NOT NULL AND NOT sync"),
        _partial_index("ix_executions_unmarked", "project_id", "created_at", "id",
                       where="status = 'waiting' AND enqueued_at IS NULL AND NOT sync"),
        _partial_index("ix_executions_running", "project_id", "function_id",
                       where="status = 'processing'"),
        # One row per attempt of a run: a retry is written once, whatever crashes.
        UniqueConstraint("retry_of", "attempt", name="uq_executions_retry_attempt"),
        _partial_index("ix_executions_dead", "project_id", "function_id", "created_at",
                       where="dead", sqlite_where="dead = 1"),
    )


class Event(Base):
    """Something that happened, under every name it is published as (``names``).

    The table is an outbox: a row with ``fanned_out_at`` NULL has not yet been turned
    into executions; the leader does that, fenced, exactly once per (event, function).
    """

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(256))
    names: Mapped[list[str]] = mapped_column(JSON)
    payload: Mapped[str] = mapped_column(Text, default="{}")
    source: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    origin_function_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    user_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    executions: Mapped[int] = mapped_column(Integer, default=0)
    stopped: Mapped[str] = mapped_column(String(16), default="")  # "depth": loop limit

    __table_args__ = (
        UniqueConstraint("project_id", "event_key", name="uq_events_key"),
        _partial_index("ix_events_pending", "created_at", "id",
                       where="fanned_out_at IS NULL"),
        Index("ix_events_created", "created_at"),
    )


class EventSubscription(Base):
    """One pattern of one function's ``events``: matching is a lookup of an event's
    names in ``(project_id, pattern)``, never a scan of the functions."""

    __tablename__ = "event_subscriptions"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    function_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    pattern: Mapped[str] = mapped_column(String(256), primary_key=True)

    __table_args__ = (
        _belongs_to_function("fk_event_subscriptions_function"),
        Index("ix_event_subscriptions_pattern", "project_id", "pattern"),
    )


class ProxyRule(Base):
    """A domain that runs a function (Appwrite's Proxy API). Domains are unique across
    projects: a request's Host names exactly one function."""

    __tablename__ = "proxy_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(36))
    function_id: Mapped[str] = mapped_column(String(36))
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (
        _belongs_to_function("fk_proxy_rules_function"),
        Index("ix_proxy_rules_project", "project_id", "created_at"),
    )


class Lease(Base):
    """Leadership. Judged by the database clock; ``epoch`` fences every write."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(256))
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_dispatch_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_dispatch_lag_ms: Mapped[float | None] = mapped_column(Float, nullable=True)


class Node(Base):
    """Every scheduler process reports here, so operators see the standbys too."""

    __tablename__ = "nodes"
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    role: Mapped[str] = mapped_column(String(16), default="standby")


class Backfill(Base):
    """An operator's request for a schedule's past fires in ``[from_at, to_at)``.

    The leader creates them in paced, fenced steps from ``cursor_at`` (the last
    nominal time handled); the unique (schedule, nominal time) key keeps each fire
    single across reruns and failovers.
    """

    __tablename__ = "backfills"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(36))
    schedule_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("schedules.id", ondelete="CASCADE"))
    from_at: Mapped[datetime] = mapped_column(UTCDateTime)
    to_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cursor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(Integer)
    created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    existing: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(16))  # running, done, cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        _partial_index("ix_backfills_running", "created_at", where="status = 'running'"),
    )
