"""Appwrite's error envelope ``{message, code, type, version}`` and the API's own errors.

Domain errors live in ``scheduler.rules.errors``; this module adds the ones only HTTP has.
"""

from __future__ import annotations

from typing import NamedTuple

from scheduler.rules.errors import TocsinError
from scheduler.rules.scopes import names_of

APPWRITE_VERSION = "1.9.6"

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
UID_RULE = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, "
    "and underscore. Can't start with a special char"
)
HEADERS_RULE = (
    'Invalid headers: Alphanumeric characters or hyphens only, cannot start with "x-appwrite", '
    "maximum 100 keys, and total size 16384."
)


class Kind(NamedTuple):
    """An HTTP status with Appwrite's error type for it."""

    status: int
    type: str


# Every Appwrite error type the HTTP layer answers with, named once (domain errors
# carry theirs on their classes in ``scheduler.rules.errors``). ``tests/unit/
# test_api_errors.py`` fails on a type spelled anywhere else in the API.
ARGUMENT_INVALID = Kind(400, "general_argument_invalid")
BAD_REQUEST = Kind(400, "general_bad_request")
QUERY_INVALID = Kind(400, "general_query_invalid")
CANNOT_UNSET_SECRET = Kind(400, "variable_cannot_unset_secret")
UNAUTHORIZED_SCOPE = Kind(401, "general_unauthorized_scope")
KEY_EXPIRED = Kind(401, "project_key_expired")
ROUTE_NOT_FOUND = Kind(404, "general_route_not_found")
METHOD_NOT_ALLOWED = Kind(405, "general_argument_invalid")
SYNC_TIMEOUT = Kind(408, "function_synchronous_timeout")
PAYLOAD_TOO_LARGE = Kind(413, "general_payload_too_large")
RATE_LIMITED = Kind(429, "general_rate_limit_exceeded")
UNKNOWN = Kind(500, "general_unknown")
UNAVAILABLE = Kind(503, "general_server_error")


class ApiError(TocsinError):
    """An answer of one ``Kind`` with its own message (``status``: another HTTP status
    for the same type, e.g. a framework's 4xx reported as ``general_unknown``)."""

    def __init__(self, kind: Kind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = kind.status if status is None else status
        self.type = kind.type


def envelope(err: TocsinError) -> dict[str, object]:
    return {"message": err.message, "code": err.status, "type": err.type,
            "version": APPWRITE_VERSION}


def sync_timeout(limit: float) -> ApiError:
    """Appwrite's 408 for a synchronous run past its limit (``TOCSIN_SYNC_TIMEOUT``;
    with the default 30 s the message is Appwrite's own)."""
    return ApiError(
        SYNC_TIMEOUT,
        "Synchronous function execution timed out. Use asynchronous execution instead, or "
        f"ensure the execution duration doesn't exceed {limit:g} seconds.")


def invalid_param(name: str, description: str) -> ApiError:
    return ApiError(ARGUMENT_INVALID, f"Invalid `{name}` param: {description}")


def missing_scope(scope: str, role: str = "guests") -> ApiError:
    listed = ",".join(f'"{name}"' for name in names_of(scope))
    return ApiError(UNAUTHORIZED_SCOPE, f"User (role: {role}) missing scopes ([{listed}])")


def key_expired() -> ApiError:
    return ApiError(KEY_EXPIRED, "The project key has expired. Please generate a new key using the "
                    "Tocsin CLI (tocsin keys create).")


def query_invalid(reason: str) -> ApiError:
    return ApiError(QUERY_INVALID, f"Invalid query: {reason}")
