"""Settings read from ``TOCSIN_*`` environment variables.

Every process (API, scheduler, worker, CLI) reads the same settings so that a
deployment is configured in one place. A bad value must stop the process at
start with one line naming the variable, never later with a traceback.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scheduler.rules.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOCSIN_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///tocsin.db",
        description="SQLAlchemy URL of the job store (PostgreSQL in production).",
    )
    broker_url: str = Field(
        default="memory://",
        description="Celery broker; memory:// only works inside `tocsin up`.",
    )
    result_url: str | None = Field(
        default=None,
        description="Redis URL for synchronous execution results (default: the broker if Redis).",
    )
    lease_ttl: float = Field(default=10.0, gt=0.5, le=600, description="Leader lease TTL, s.")
    dispatch_batch: int = Field(default=5000, ge=1, le=100_000)
    dispatch_lanes: int = Field(
        default=2, ge=1, le=8,
        description="Dispatch transactions a backlog is drained by at once (PostgreSQL).")
    poll_interval: float = Field(default=5.0, gt=0, le=300, description="Safety-net re-poll, s.")
    backfill_step: int = Field(
        default=500, ge=1, le=10_000,
        description="Fires a backfill step creates; the leader takes one step every 0.25 s.")
    requeue_after: float = Field(
        default=60.0, gt=0, description="Republish a waiting execution not started after this, s."
    )
    sync_timeout: float = Field(default=30.0, gt=0, le=30, description="Synchronous limit, s.")
    sync_concurrency: int = Field(
        default=100, ge=1, le=100_000,
        description="Synchronous executions one project may have waiting on one API process; "
                    "beyond it: 429.")
    reap_margin: float = Field(default=30.0, ge=0, description="Grace past timeout before reaping.")
    project_window: int = Field(
        default=32, ge=1, le=100_000,
        description="A project's asynchronous runs in the broker at once; the rest wait "
                    "in PostgreSQL and are handed over as its runs start (fairness).")
    record_hold: float = Field(
        default=0.02, ge=0, le=60,
        description="Seconds a worker process holds an asynchronous run's outcome so that "
                    "those ending meanwhile are recorded with it, in one statement.")
    worker_fast_path: bool = Field(
        default=True,
        description="Workers claim and record common runs with one statement each "
                    "(PostgreSQL); false: always the reference path.")
    retention_days: int = Field(default=30, ge=0, description="Finished executions kept, days.")
    event_max_depth: int = Field(
        default=8, ge=1, le=100,
        description="Links in a chain of event-triggered executions before it is stopped.")
    key_cache_seconds: float = Field(
        default=2.0, ge=0, le=60,
        description="How long an API process remembers a key it has read (0: never); a "
                    "run's own key is never remembered.")
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)
    api_max_connections: int = Field(
        default=1000, ge=2, description="Open connections (and requests) one API process "
                                        "serves at once; beyond it 503.")
    bootstrap_project: str | None = None
    bootstrap_key: str | None = None
    functions_dir: str = Field(
        default="functions",
        description="Root of file entrypoints: <dir>/<projectId>/<functionId>/...")
    deployment_max_bytes: int = Field(
        default=30_000_000, ge=0,
        description="Largest deployment archive (tar.gz) the API accepts, bytes; 0: no "
                    "limit (Appwrite's _APP_COMPUTE_SIZE_LIMIT).")
    build_timeout: int = Field(
        default=900, ge=1, le=86_400,
        description="Seconds a deployment's build commands may run before it fails.")
    build_lease: float = Field(
        default=15.0, ge=1, le=3600,
        description="Seconds a build stays its builder's without a heartbeat (renewed "
                    "every third of it); a build whose worker died is taken over after it.")
    deployment_cache: str = Field(
        default="",
        description="Where a worker unpacks the deployments it runs (one folder each); "
                    "empty: tocsin-deployments in the system's temporary directory.")
    entrypoint_modules: str = Field(
        default="",
        description="Comma-separated module prefixes allowed in package.module:callable "
                    "entrypoints; empty: file entrypoints only.")
    public_url: str = Field(
        default="",
        description="Tocsin's API as functions reach it (APPWRITE_FUNCTION_API_ENDPOINT); "
                    "default http://<api_host>:<api_port>/v1.")
    runner_pass_env: str = Field(
        default="",
        description="Comma-separated names of the worker's environment variables passed "
                    "on to function runners (e.g. HTTPS_PROXY); TOCSIN_* never are.")
    runner_sandbox: Literal["auto", "bwrap", "off"] = Field(
        default="auto",
        description="Confine function runners with bubblewrap: auto (when it works here, "
                    "else one warning), bwrap (a worker refuses to start without it), off.")
    runner_network: Literal["host", "none"] = Field(
        default="host",
        description="A sandboxed runner's network: host (the worker's, as Appwrite "
                    "functions reach the internet) or none (its own loopback only).")
    runner_user: str = Field(
        default="nobody",
        description="The user a sandboxed runner runs as when the worker runs as root.")
    runner_writable: str = Field(
        default="",
        description="Comma-separated directories a sandboxed runner may write (bound "
                    "read-write at the same path); empty: only its /tmp.")
    runner_tmp_mb: int = Field(
        default=64, ge=1, le=65536,
        description="Size of a sandboxed runner's private /tmp (memory-backed), MiB.")
    http_deny_private: bool = Field(
        default=True,
        description="The http runtime refuses loopback, private, link-local and other "
                    "non-public addresses (checked on the resolved address).")
    max_request_bytes: int = Field(
        default=11 * 1024 * 1024, ge=1024,
        description="Largest request body the API reads; beyond it 413.")
    functions_domain: str = Field(
        default="",
        description="Generated domains: a request whose Host is <functionId>.<this> runs "
                    "that function (e.g. fn.example.com); empty: none.")
    api_hosts: str = Field(
        default="",
        description="Comma-separated Host names the API answers on; when set, any other "
                    "host that is no function domain is 404 router_host_not_found.")
    jwt_secret: str | None = Field(
        default=None, description="HS256 secret that signs users' JWTs (X-Appwrite-JWT).")
    jwks_url: str | None = Field(
        default=None, description="JWKS of an OIDC provider (RS256/ES256 user JWTs).")
    jwt_audience: str | None = Field(
        default=None, description="Required JWT `aud`, if set; `{project}` in it stands for "
                                  "the request's project (e.g. `tocsin:{project}`).")
    jwt_claim_project: str | None = Field(
        default=None, description="A JWT claim that must equal the request's project id, "
                                  "if set.")
    jwt_issuer: str | None = Field(default=None, description="Required JWT `iss`, if set.")
    jwt_claim_user: str = Field(default="sub", description="Claim holding the user id.")
    jwt_claim_verified: str = Field(
        default="email_verified,verified",
        description="Claims (first present wins) that mark a user verified.")
    jwt_claim_teams: str = Field(
        default="teams", description="Claim listing teams as `id` or `id/role`.")
    jwt_claim_labels: str = Field(default="labels", description="Claim listing labels.")
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins every project accepts (e.g. "
                    "https://app.example.com); `*` any. Projects add their own platforms.")
    metrics_token: str | None = Field(
        default=None, description="If set, /metrics requires 'Authorization: Bearer <token>'.")
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    node_name: str | None = Field(default=None, description="Default: hostname:pid.")

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        # Users write the URL their other tools use; we always talk psycopg 3.
        for prefix in ("postgresql://", "postgres://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("postgresql+psycopg://", "sqlite://")):
            raise ValueError("must be a postgresql:// or sqlite:/// URL")
        return value

    @field_validator("bootstrap_key")
    @classmethod
    def _strong_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @property
    def entrypoint_prefixes(self) -> tuple[str, ...]:
        from scheduler.rules.entrypoints import parse_prefixes

        return parse_prefixes(self.entrypoint_modules)

    @property
    def function_api_endpoint(self) -> str:
        return self.public_url or f"http://{self.api_host}:{self.api_port}/v1"

    @property
    def runner_passed_env(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.runner_pass_env.split(",") if n.strip())

    @property
    def api_host_names(self) -> frozenset[str]:
        """The API's own host names: ``TOCSIN_API_HOSTS`` and ``TOCSIN_PUBLIC_URL``'s.
        No function domain may take one of them."""
        from urllib.parse import urlsplit

        names = {h.strip().lower() for h in self.api_hosts.split(",") if h.strip()}
        public = urlsplit(self.public_url).hostname if self.public_url else None
        return frozenset(names | ({public.lower()} if public else set()))

    @property
    def cors_origin_list(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",")
                         if o.strip())

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def result_backend_url(self) -> str | None:
        if self.result_url:
            return self.result_url
        if self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return None


def load_settings() -> Settings:
    """Build settings, turning pydantic's report into one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(
            f"TOCSIN_{field.upper()}={err.get('input')!r} is invalid: {msg}"
        ) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
