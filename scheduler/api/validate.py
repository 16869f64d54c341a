"""Input rules with Appwrite's messages, in Appwrite's order. Pure (``now`` is passed in)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from scheduler.api.errors import (
    ARGUMENT_INVALID,
    BAD_REQUEST,
    HEADERS_RULE,
    METHODS,
    UID_RULE,
    ApiError,
    invalid_param,
)
from scheduler.rules import (
    entrypoints,
    eventnames,
    httprules,
    intervals,
    retries,
    roles,
    runtime_names,
    specifications,
)
from scheduler.rules.admission import MAX_CONCURRENCY
from scheduler.rules.errors import (
    CronError,
    EntrypointNotAllowed,
    EventNameError,
    PathError,
    ScheduleError,
)
from scheduler.rules.jitter import MAX_JITTER
from scheduler.rules.overlap import OVERLAPS
from scheduler.rules.policies import (
    MAX_CATCHUP_CAP,
    MAX_CATCHUP_WINDOW,
    MAX_MISFIRE_GRACE,
    POLICIES,
)
from scheduler.rules.timerules import (
    SCHEDULED_AT_MESSAGE,
    SCHEDULED_AT_SYNC_MESSAGE,
    parse_cron,
    parse_scheduled_at,
    validate_timezone,
)

MAX_BODY = 10 * 1024 * 1024
MAX_PATH = 2048
MAX_HEADERS = 100
MAX_HEADERS_SIZE = 16384
_UID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,35}$")
_HEADER_KEY = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
CRON_RULE = "String must be a valid cron expression"
# PostgreSQL text cannot hold NUL; say so instead of failing at the database.
NUL_RULE = "Value must not contain NUL (\\u0000) characters"


def uid(name: str, value: str) -> str:
    if not isinstance(value, str) or not _UID.match(value):
        raise invalid_param(name, UID_RULE)
    return value


@dataclass(frozen=True)
class ExecutionInput:
    body: str
    asynchronous: bool
    path: str
    method: str
    headers: dict[str, str]
    scheduled_at: datetime | None


def _headers(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise invalid_param("headers", "Value must be a valid object.") from None
    if value in ([], None):
        return {}
    if not isinstance(value, dict):
        raise invalid_param("headers", "Value must be a valid object.")
    if len(json.dumps(value)) > 65535:
        raise invalid_param("headers", "Value must be a valid object.")
    return value


def execution(body: Any, asynchronous: bool, path: Any, method: Any, headers: Any,
              scheduled_at: Any, now: datetime) -> ExecutionInput:
    # Parameter validators first, as Appwrite runs them before the action.
    for name, value in (("body", body), ("path", path)):
        if isinstance(value, str) and "\x00" in value:
            raise invalid_param(name, NUL_RULE)
    if not isinstance(body, str) or len(body) > MAX_BODY:
        raise invalid_param("body", f"Value must be a valid string and no longer than "
                                    f"{MAX_BODY} chars")
    if not isinstance(path, str) or len(path) > MAX_PATH:
        raise invalid_param("path", f"Value must be a valid string and no longer than "
                                    f"{MAX_PATH} chars")
    try:
        httprules.check_path(path)
    except PathError as exc:
        raise invalid_param("path", str(exc)) from None
    if method not in METHODS:
        raise invalid_param("method", f"Value must be one of ({', '.join(METHODS)})")
    raw_headers = _headers(headers)
    if scheduled_at is not None and (not isinstance(scheduled_at, str) or len(scheduled_at) > 100):
        raise invalid_param("scheduledAt", "Value must be a valid string and no longer than "
                                           "100 chars")
    # Then the action's own checks, in its order.
    when = None
    if scheduled_at is not None:
        if not asynchronous:
            raise ApiError(BAD_REQUEST, SCHEDULED_AT_SYNC_MESSAGE)
        try:
            when = parse_scheduled_at(scheduled_at, now)
        except ScheduleError:
            raise ApiError(BAD_REQUEST, SCHEDULED_AT_MESSAGE) from None
    return ExecutionInput(body, asynchronous, path or "/", method, check_headers(raw_headers),
                          when)


def check_headers(headers: dict[str, Any]) -> dict[str, str]:
    if len(headers) > MAX_HEADERS:
        raise ApiError(ARGUMENT_INVALID, HEADERS_RULE)
    size = 0
    out: dict[str, str] = {}
    for key, value in headers.items():
        text = value if isinstance(value, str) else json.dumps(value)
        size += len(key) + len(text)
        # Appwrite's check is case-sensitive; we refuse every casing, since the
        # worker sets x-appwrite-* headers itself and a caller must not forge them.
        if not _HEADER_KEY.match(key) or key.lower().startswith("x-appwrite") \
                or "\x00" in text:
            raise ApiError(ARGUMENT_INVALID, HEADERS_RULE)
        if key.lower().startswith("x-tocsin-"):  # x-tocsin-scheduled-for is the fire's
            raise invalid_param("headers", f"'{key}' is set by Tocsin, not the caller "
                                           "(refused: every x-tocsin-* header)")
        if key.lower() in httprules.REFUSED_HEADERS:
            raise invalid_param("headers", f"'{key}' is set by the transport, not the caller "
                                           "(refused: Host, Content-Length, Transfer-Encoding, "
                                           "Connection and other hop-by-hop headers)")
        if any(c in text for c in "\r\n"):
            raise invalid_param("headers", f"the value of '{key}' must not contain CR or LF")
        out[key] = text
    if size >= MAX_HEADERS_SIZE:
        raise ApiError(ARGUMENT_INVALID, HEADERS_RULE)
    return out


def cron(expression: str) -> str:
    if expression == "":
        return ""
    if intervals.is_interval(" ".join(str(expression).split())):
        raise invalid_param("schedule", f"{CRON_RULE} (for minutes between runs, set "
                                        "`interval` instead)")
    try:
        return parse_cron(expression).expression
    except CronError as exc:
        raise invalid_param("schedule", f"{CRON_RULE} ({exc})") from None


def timezone(name: str) -> str:
    try:
        return validate_timezone(name).key
    except CronError as exc:
        raise invalid_param("timezone", str(exc)) from None


MAX_INTERVAL = 525_600  # minutes: a year


def interval(value: Any) -> float:
    """Appwrite's ``interval``: minutes between runs, 0 for none. The scheduler works in
    whole minutes, so a fraction is refused rather than rounded."""
    if (isinstance(value, bool) or not isinstance(value, int | float) or value != value
            or value != int(value) or not (value == 0 or 1 <= value <= MAX_INTERVAL)):
        raise invalid_param("interval", f"Value must be 0 (no interval) or a whole number "
                                        f"of minutes between 1 and {MAX_INTERVAL}")
    return float(value)


def schedule_or_interval(schedule: str, minutes: float) -> None:
    """A function runs on a cron ``schedule`` or every ``interval`` minutes, not both."""
    if schedule and minutes:
        raise invalid_param("interval", "Cannot be combined with `schedule`: set one of "
                                        "them and leave the other empty (or 0)")


def retry_policy(doc: Any) -> dict[str, Any] | None:
    """A retry policy document, every field filled in (None: no retries)."""
    try:
        return retries.to_doc(retries.parse(doc))
    except retries.RetryPolicyError as exc:
        raise invalid_param("retry", str(exc)) from None


def function_fields(data: dict[str, Any], allowed_modules: tuple[str, ...] = ()
                    ) -> dict[str, Any]:
    """Validate the Tocsin/Appwrite function fields present in ``data`` (API names).
    ``allowed_modules``: the operator's entrypoint module prefixes."""
    out: dict[str, Any] = {}
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise invalid_param("name", "Value must be a valid string and at least 1 chars "
                                        "and no longer than 128 chars")
        out["name"] = name
    if "runtime" in data:
        if data["runtime"] not in runtime_names.SUPPORTED:
            raise invalid_param("runtime", runtime_names.rule())
        out["runtime"] = data["runtime"]
    if "schedule" in data:
        out["schedule"] = cron(data["schedule"] or "")
    if "timezone" in data:
        out["timezone"] = timezone(data["timezone"])
    if "interval" in data:
        out["interval"] = interval(data["interval"])
    if "timeout" in data:
        out["timeout"] = _int_range("timeout", data["timeout"], 1, 900)
    if "maxConcurrency" in data:  # Tocsin's own (rules.admission); null: no limit
        limit = data["maxConcurrency"]
        out["max_concurrency"] = None if limit is None else _int_range(
            "maxConcurrency", limit, 1, MAX_CONCURRENCY)
    if "retry" in data:  # Tocsin's own (rules.retries); null: no retries
        out["retry"] = retry_policy(data["retry"])
    for api, col in (("execute", "execute"), ("events", "events"), ("scopes", "scopes")):
        if api in data:
            items = data[api]
            if not isinstance(items, list) or len(items) > 100 or not all(
                    isinstance(i, str) and len(i) <= 256 for i in items):
                raise invalid_param(api, "Value must a valid array no longer than 100 items "
                                         "and Value must be a valid string and no longer "
                                         "than 256 chars")
            if api == "execute":
                try:
                    items = [roles.check_role(i) for i in items]
                except roles.RoleError as exc:
                    raise invalid_param("execute", exc.message) from None
            if api == "events":
                try:
                    items = [eventnames.check_pattern(i) for i in items]
                except EventNameError as exc:
                    raise invalid_param("events", exc.message) from None
            out[col] = items
    for flag in ("enabled", "logging"):
        if flag in data:
            if not isinstance(data[flag], bool):
                raise invalid_param(flag, "Value must be a valid boolean")
            out[flag] = data[flag]
    if "entrypoint" in data:
        if not isinstance(data["entrypoint"], str) or len(data["entrypoint"]) > 1024:
            raise invalid_param("entrypoint", "Value must be a valid string and no longer "
                                              "than 1024 chars")
        try:
            entrypoints.check(data["entrypoint"], allowed_modules)
        except EntrypointNotAllowed as exc:
            raise invalid_param("entrypoint", str(exc)) from None
        out["entrypoint"] = data["entrypoint"]
    if "url" in data:
        out["url"] = _url(data["url"])
    for api, col, high in (("description", "description", 1024), ("commands", "commands", 8192)):
        if api in data:
            if not isinstance(data[api], str) or len(data[api]) > high:
                raise invalid_param(api, f"Value must be a valid string and no longer than "
                                         f"{high} chars")
            out[col] = data[api]
    if "buildSpecification" in data:  # no builds here: checked like the runtime one
        slug = data["buildSpecification"]
        specifications.choose(slug if isinstance(slug, str) else "", os.cpu_count() or 1,
                     "buildSpecification")
    if "runtimeSpecification" in data:
        slug = data["runtimeSpecification"]
        out["runtime_specification"] = specifications.choose(
            slug if isinstance(slug, str) else "", os.cpu_count() or 1).slug
    if "missedPolicy" in data:
        if data["missedPolicy"] not in POLICIES:
            raise invalid_param("missedPolicy", f"Value must be one of ({', '.join(POLICIES)})")
        out["missed_policy"] = data["missedPolicy"]
    if "overlap" in data:
        if data["overlap"] not in OVERLAPS:
            raise invalid_param("overlap", f"Value must be one of ({', '.join(OVERLAPS)})")
        out["overlap"] = data["overlap"]
    if "jitter" in data:
        out["jitter"] = _int_range("jitter", data["jitter"], 0, MAX_JITTER)
    for api, col, high in (("misfireGrace", "misfire_grace", MAX_MISFIRE_GRACE),
                           ("catchupWindow", "catchup_window", MAX_CATCHUP_WINDOW),
                           ("catchupCap", "catchup_cap", MAX_CATCHUP_CAP)):
        if api in data:
            low = 1 if api == "catchupCap" else 0
            out[col] = _int_range(api, data[api], low, high)
    return out


def _int_range(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_param(name, f"Value must be a valid range between {low:,} and {high:,}")
    return value


def _url(value: Any) -> str:
    if value == "":
        return ""
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc \
            or len(value) > 2048 or any(c in value for c in "\r\n\t\x00 "):
        raise invalid_param("url", "Value must be a valid URL with http or https scheme")
    if httprules.has_credentials(value):
        raise invalid_param("url", "Value must not carry credentials (user:password@); "
                                   "send them in the execution's headers instead")
    return value


_VARIABLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARIABLE_VALUE = 8192


def variable_fields(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    """Appwrite's rules for a variable's key, value, secret and description, in its
    order; on create ``key`` and ``value`` are required."""
    out: dict[str, Any] = {}
    for name in ("key", "value"):
        if creating and data.get(name) is None:
            raise invalid_param(name, "Param is required")
    key = data.get("key")
    if key is not None:
        if not isinstance(key, str) or not 1 <= len(key) <= 255 or not _VARIABLE_KEY.match(key):
            raise invalid_param("key", "Value must be a valid string and at least 1 chars and "
                                       "no longer than 255 chars; letters, digits and "
                                       "underscores only, not starting with a digit")
        out["key"] = key
    value = data.get("value")
    if value is not None:
        if not isinstance(value, str) or len(value) > MAX_VARIABLE_VALUE:
            raise invalid_param("value", "Value must be a valid string and no longer than "
                                         f"{MAX_VARIABLE_VALUE} chars")
        if "\x00" in value:
            raise invalid_param("value", NUL_RULE)
        out["value"] = value
    if data.get("secret") is not None:
        if not isinstance(data["secret"], bool):
            raise invalid_param("secret", "Value must be a valid boolean")
        out["secret"] = data["secret"]
    if data.get("description") is not None:
        description = data["description"]
        if not isinstance(description, str) or len(description) > 255:
            raise invalid_param("description", "Value must be a valid string and no longer "
                                               "than 255 chars")
        out["description"] = description
    return out
