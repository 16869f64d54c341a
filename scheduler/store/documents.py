"""Rows as Appwrite's JSON documents (Function, Execution, Variable) and Tocsin's
schedule document.

In the store, beside the tables they render: the API answers with these, and the
store's events carry them as payloads (an execution's ``update`` event is the Execution
as the API returns it), so both use one shape. No SQL here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scheduler.rules.httprules import without_credentials
from scheduler.rules.timerules import iso
from scheduler.store.deployment_models import Deployment
from scheduler.store.models import Execution, Function, ProxyRule, Schedule, Variable

# Appwrite returns only these request headers on an execution.
REQUEST_HEADER_ALLOWLIST = ("content-type", "agent", "content-length", "host",
                            "x-appwrite-client-ip")


class Form(StrEnum):
    """How a field of the Execution document is made from the row."""

    COLUMN = "column"  # the column as it is
    TIME = "time"  # a timestamp column in Appwrite's wire format (``timerules.iso``)
    CONSTANT = "constant"  # ``source`` is the value itself
    PERMISSIONS = "permissions"  # read("user:<id>") for the user who asked, if any
    STATUS = "status"  # as reported (``Overdue``)
    ERRORS = "errors"  # as reported, and only to a reader who may see them
    LOGS = "logs"  # only to a reader who may see them
    REQUEST_HEADERS = "request_headers"  # the allowlisted ones, as [{name, value}]
    RESPONSE_HEADERS = "response_headers"  # as stored, [] for none
    RESPONSE_BODY = "response_body"  # a synchronous run's, never stored


@dataclass(frozen=True)
class Field:
    name: str
    form: Form
    source: str = ""  # the column (or, for a constant, the value)


# Appwrite's Execution model, then Tocsin's additions (extra fields are ignored by the
# SDKs). The one definition both renderers read: ``execution_json`` here and
# ``documents_pg.execution_document`` (PostgreSQL builds the JSON for fast lists).
EXECUTION_FIELDS: tuple[Field, ...] = (
    Field("$id", Form.COLUMN, "id"),
    Field("$createdAt", Form.TIME, "created_at"),
    Field("$updatedAt", Form.TIME, "updated_at"),
    Field("$permissions", Form.PERMISSIONS, "user_id"),
    Field("functionId", Form.COLUMN, "function_id"),
    Field("resourceId", Form.COLUMN, "function_id"),
    Field("resourceType", Form.CONSTANT, "functions"),
    Field("deploymentId", Form.COLUMN, "deployment_id"),
    Field("trigger", Form.COLUMN, "trigger"),
    Field("status", Form.STATUS, "status"),
    Field("requestMethod", Form.COLUMN, "request_method"),
    Field("requestPath", Form.COLUMN, "request_path"),
    Field("requestHeaders", Form.REQUEST_HEADERS, "request_headers"),
    Field("responseStatusCode", Form.COLUMN, "response_status_code"),
    Field("responseBody", Form.RESPONSE_BODY),
    Field("responseHeaders", Form.RESPONSE_HEADERS, "response_headers"),
    Field("logs", Form.LOGS, "logs"),
    Field("errors", Form.ERRORS, "errors"),
    Field("duration", Form.COLUMN, "duration"),
    Field("scheduledAt", Form.TIME, "scheduled_at"),
    Field("scheduleId", Form.COLUMN, "schedule_id"),
    Field("scheduledFor", Form.TIME, "scheduled_for"),
    Field("attempt", Form.COLUMN, "attempt"),
    Field("retryOf", Form.COLUMN, "retry_of"),
    Field("dead", Form.COLUMN, "dead"),
)


@dataclass(frozen=True)
class _View:
    """What one rendering knows beside the row."""

    status: str
    errors: str
    response: dict[str, Any]
    private: bool


def _allowed_headers(headers: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in (headers or {}).items()
            if k.lower() in REQUEST_HEADER_ALLOWLIST]


_PY: dict[Form, Callable[[Execution, Field, _View], Any]] = {
    Form.COLUMN: lambda ex, f, v: getattr(ex, f.source),
    Form.TIME: lambda ex, f, v: iso(getattr(ex, f.source)),
    Form.CONSTANT: lambda ex, f, v: f.source,
    Form.PERMISSIONS: lambda ex, f, v: ([f'read("user:{ex.user_id}")'] if ex.user_id
                                        else []),
    Form.STATUS: lambda ex, f, v: v.status,
    Form.ERRORS: lambda ex, f, v: v.errors if v.private else "",
    Form.LOGS: lambda ex, f, v: getattr(ex, f.source) if v.private else "",
    Form.REQUEST_HEADERS: lambda ex, f, v: _allowed_headers(getattr(ex, f.source)),
    Form.RESPONSE_HEADERS: lambda ex, f, v: getattr(ex, f.source) or [],
    Form.RESPONSE_BODY: lambda ex, f, v: v.response.get("body", ""),
}
_EXECUTION_RENDERERS = [(f.name, f, _PY[f.form]) for f in EXECUTION_FIELDS]


def execution_json(ex: Execution, response: dict[str, Any] | None = None,
                   reported: tuple[str, str] | None = None, private: bool = True
                   ) -> dict[str, Any]:
    """``EXECUTION_FIELDS`` for one row. ``reported``: (status, errors) when they differ
    from the row's (a run past its timeout is reported failed before the reaper writes
    so). ``private``: the reader may see ``logs`` and ``errors`` (as in Appwrite, API
    keys only, never app users)."""
    status, errors = reported or (ex.status, ex.errors)
    view = _View(status, errors, response or {}, private)
    return {name: render(ex, field, view) for name, field, render in _EXECUTION_RENDERERS}


def variable_json(v: Variable) -> dict[str, Any]:
    return {
        "$id": v.id,
        "$createdAt": iso(v.created_at),
        "$updatedAt": iso(v.updated_at),
        "key": v.key,
        "description": v.description,
        "value": "" if v.secret else v.value,  # a secret is written, never read back
        "secret": v.secret,
        "resourceType": "function",
        "resourceId": v.function_id,
    }


def function_json(fn: Function, variables: list[Variable] | None = None) -> dict[str, Any]:
    return {
        "$id": fn.id,
        "$createdAt": iso(fn.created_at),
        "$updatedAt": iso(fn.updated_at),
        "execute": fn.execute,
        "name": fn.name,
        "description": fn.description,
        "enabled": fn.enabled,
        "live": True,
        "logging": fn.logging,
        "runtime": fn.runtime,
        "deploymentRetention": 0,
        "deploymentId": fn.deployment_id,
        "deploymentCreatedAt": iso(fn.deployment_created_at) or "",
        "latestDeploymentId": fn.latest_deployment_id,
        "latestDeploymentCreatedAt": iso(fn.latest_deployment_created_at) or "",
        "latestDeploymentStatus": fn.latest_deployment_status,
        "scopes": fn.scopes,
        "vars": [variable_json(v) for v in variables or []],
        "events": fn.events,
        "schedule": fn.schedule,
        "timeout": fn.timeout,
        "entrypoint": fn.entrypoint,
        "commands": fn.commands,
        "version": "v5",
        "url": without_credentials(fn.url),  # never echo credentials
        "timezone": fn.timezone,
        "missedPolicy": fn.missed_policy,
        "misfireGrace": fn.misfire_grace,
        "catchupWindow": fn.catchup_window,
        "catchupCap": fn.catchup_cap,
        "overlap": fn.overlap,
        "jitter": fn.jitter,
        "interval": fn.interval,
        "maxConcurrency": fn.max_concurrency,
        "retry": fn.retry,
        "installationId": "",
        "providerRepositoryId": "",
        "providerBranch": "",
        "providerRootDirectory": "",
        "providerSilentMode": False,
        "providerBranches": [],
        "providerPaths": [],
        "buildSpecification": fn.runtime_specification,
        "runtimeSpecification": fn.runtime_specification,
        "specification": fn.runtime_specification,
        "emailEnabled": False,
    }


_NO_PROVIDER = {name: "" for name in (
    "providerRepositoryName", "providerRepositoryOwner", "providerRepositoryUrl",
    "providerCommitHash", "providerCommitAuthorUrl", "providerCommitAuthor",
    "providerCommitMessage", "providerCommitUrl", "providerBranch", "providerBranchUrl")}


def deployment_json(d: Deployment) -> dict[str, Any]:
    """Appwrite's Deployment model (no VCS, no screenshots: those fields empty), then
    Tocsin's: ``commands``, and ``chunksTotal``/``chunksUploaded``, which the SDKs read
    to return the response of the chunk that completed an upload."""
    return {
        "$id": d.id,
        "$createdAt": iso(d.created_at),
        "$updatedAt": iso(d.updated_at),
        "type": d.type,
        "resourceId": d.function_id,
        "resourceType": "functions",
        "entrypoint": d.entrypoint,
        "sourceSize": d.source_size,
        "buildSize": d.build_size,
        "totalSize": d.source_size + d.build_size,
        "buildId": d.id if d.status != "waiting" else "",
        "activate": d.activate,
        "screenshotLight": "",
        "screenshotDark": "",
        "status": d.status,
        "buildLogs": d.build_logs,
        "buildDuration": round(d.build_duration),
        **_NO_PROVIDER,
        "commands": d.commands,
        "chunksTotal": d.chunks_total,
        "chunksUploaded": d.chunks_uploaded,
    }


def schedule_json(s: Schedule) -> dict[str, Any]:
    return {
        "$id": s.id,
        "functionId": s.function_id,
        "key": s.key,
        "schedule": s.cron,
        "timezone": s.timezone,
        "nextFireAt": iso(s.next_fire_at),
        "lastFireAt": iso(s.last_fire_at),
        "paused": s.paused,
        "pauseNote": s.pause_note,
        "disabled": s.disabled,
        "missedPolicy": s.missed_policy,
        "misfireGrace": s.misfire_grace,
        "catchupWindow": s.catchup_window,
        "catchupCap": s.catchup_cap,
        "overlap": s.overlap,
        "jitter": s.jitter,
        "retry": s.retry,
        "payload": s.payload,
        "skipped": {"missed": s.skipped_missed, "paused": s.skipped_paused,
                    "disabled": s.skipped_disabled, "overlap": s.skipped_overlap},
        "lastSkipped": {"missed": iso(s.last_missed_at), "paused": iso(s.last_paused_at),
                        "disabled": iso(s.last_disabled_at),
                        "overlap": iso(s.last_overlap_at)},
        "lastSkippedAt": iso(s.last_skipped_at),
        "lastSkipReason": s.last_skip_reason,
    }


def rule_json(rule: ProxyRule) -> dict[str, Any]:
    """Appwrite's ProxyRule; Tocsin's rules are function rules, verified at once."""
    return {
        "$id": rule.id,
        "$createdAt": iso(rule.created_at),
        "$updatedAt": iso(rule.updated_at),
        "domain": rule.domain,
        "type": "deployment",
        "trigger": "manual",
        "redirectUrl": "",
        "redirectStatusCode": 0,
        "deploymentId": "",
        "deploymentResourceType": "function",
        "deploymentResourceId": rule.function_id,
        "deploymentVcsProviderBranch": "",
        "status": "verified",
        "logs": "",
        "renewAt": "",
        "protocol": "http",
    }
