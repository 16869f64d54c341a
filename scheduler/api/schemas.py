"""Request bodies and Appwrite-shaped responses; kept apart from the tables."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scheduler.rules.policies import (
    DEFAULT_CATCHUP_CAP,
    DEFAULT_CATCHUP_WINDOW,
    DEFAULT_MISFIRE_GRACE,
    Policy,
)
from scheduler.store.documents import (
    REQUEST_HEADER_ALLOWLIST,
    execution_json,
    function_json,
    schedule_json,
    variable_json,
)

__all__ = ["REQUEST_HEADER_ALLOWLIST", "execution_json", "function_json", "schedule_json",
           "variable_json"]


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
    overlap: Any = None
    jitter: Any = None
    maxConcurrency: Any = None
    retry: Any = None
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
    misfireGrace: int = DEFAULT_MISFIRE_GRACE
    catchupWindow: int = DEFAULT_CATCHUP_WINDOW
    catchupCap: int = DEFAULT_CATCHUP_CAP
    overlap: Any = "allow"
    jitter: Any = 0
    body: str = ""
    path: str = "/"
    method: str = "POST"
    headers: dict[str, Any] = Field(default_factory=dict)
    retry: Any = None  # its fires' retry policy, over the function's (rules.retries)


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    note: str = Field("", max_length=512)
