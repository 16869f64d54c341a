"""Request bodies and Appwrite-shaped responses; kept apart from the tables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scheduler.httprules import without_credentials
from scheduler.policies import Policy
from scheduler.store.models import Execution, Function, Schedule, Variable
from scheduler.timerules import iso

# Appwrite returns only these request headers on an execution.
REQUEST_HEADER_ALLOWLIST = ("content-type", "agent", "content-length", "host",
                            "x-appwrite-client-ip")


class ErrorBody(BaseModel):
    """Appwrite's error envelope: every 4xx and 5xx has exactly these fields."""

    model_config = ConfigDict(extra="forbid")
    message: str
    code: int
    type: str
    version: str


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((400, "Invalid input (general_argument_invalid, general_bad_request, "
                               "general_query_invalid, execution_in_progress, ...)"),
                         (401, "Missing scope or expired key"),
                         (404, "Project, function, execution or route not found"),
                         (409, "Already exists"),
                         (503, "A dependency (database, broker) is unreachable"),
                         (500, "Unexpected server error"))
}


class ExecutionCreate(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    body: str = ""
    async_: bool = Field(False, alias="async")
    path: str = "/"
    method: str = "POST"
    headers: dict[str, Any] | list[Any] | str = Field(default_factory=dict)
    scheduledAt: str | None = None


class FunctionWrite(BaseModel):
    """POST /functions and PUT /functions/{id}; omitted fields keep their value on PUT."""

    model_config = ConfigDict(extra="ignore")
    functionId: str | None = None
    name: str | None = None
    runtime: str | None = None
    execute: list[str] | None = None
    events: list[str] | None = None
    schedule: str | None = None
    interval: Any = None
    timeout: int | None = None
    enabled: bool | None = None
    logging: bool | None = None
    entrypoint: str | None = None
    url: str | None = None
    timezone: str | None = None
    missedPolicy: str | None = None
    misfireGrace: int | None = None
    catchupWindow: int | None = None
    catchupCap: int | None = None
    runtimeSpecification: str | None = None
    buildSpecification: str | None = None
    scopes: list[str] | None = None
    description: str | None = None
    commands: str | None = None


class VariableWrite(BaseModel):
    """POST /functions/{id}/variables and PUT .../variables/{variableId}; types are
    checked by validate.py so errors carry Appwrite's messages."""

    model_config = ConfigDict(extra="ignore")
    variableId: Any = None
    key: Any = None
    value: Any = None
    secret: Any = None
    description: Any = None


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    key: str
    schedule: str
    timezone: str = "UTC"
    missedPolicy: str = Policy.LATEST
    misfireGrace: int = 60
    catchupWindow: int = 86400
    catchupCap: int = 100
    body: str = ""
    path: str = "/"
    method: str = "POST"
    headers: dict[str, Any] = Field(default_factory=dict)


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    note: str = Field("", max_length=512)


def execution_json(ex: Execution, response: dict[str, Any] | None = None,
                   reported: tuple[str, str] | None = None) -> dict[str, Any]:
    """``reported``: (status, errors) when they differ from the row's (a run past its
    timeout is reported failed before the reaper writes so)."""
    headers = ex.request_headers or {}
    status, errors = reported or (ex.status, ex.errors)
    return {
        "$id": ex.id,
        "$createdAt": iso(ex.created_at),
        "$updatedAt": iso(ex.updated_at),
        "$permissions": [],
        "functionId": ex.function_id,
        "resourceId": ex.function_id,
        "resourceType": "functions",
        "deploymentId": "",
        "trigger": ex.trigger,
        "status": status,
        "requestMethod": ex.request_method,
        "requestPath": ex.request_path,
        "requestHeaders": [{"name": k, "value": v} for k, v in headers.items()
                           if k.lower() in REQUEST_HEADER_ALLOWLIST],
        "responseStatusCode": ex.response_status_code,
        "responseBody": (response or {}).get("body", ""),
        "responseHeaders": ex.response_headers or [],
        "logs": ex.logs,
        "errors": errors,
        "duration": ex.duration,
        "scheduledAt": iso(ex.scheduled_at),
        # Tocsin's additions (extra fields are ignored by the SDKs).
        "scheduleId": ex.schedule_id,
        "scheduledFor": iso(ex.scheduled_for),
    }


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
        # Tocsin has no deployments: Appwrite's fields with their types, empty.
        "deploymentRetention": 0,
        "deploymentId": "",
        "deploymentCreatedAt": "",
        "latestDeploymentId": "",
        "latestDeploymentCreatedAt": "",
        "latestDeploymentStatus": "",
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
        "interval": fn.interval,
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
        "payload": s.payload,
        "skipped": {"missed": s.skipped_missed, "paused": s.skipped_paused,
                    "disabled": s.skipped_disabled},
        "lastSkippedAt": iso(s.last_skipped_at),
        "lastSkipReason": s.last_skip_reason,
    }
