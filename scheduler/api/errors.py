"""Appwrite's error envelope ``{message, code, type, version}`` and the API's own errors.

Domain errors live in ``scheduler.rules.errors``; this module adds the ones only HTTP has.
"""

from __future__ import annotations

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


class ApiError(TocsinError):
    """An answer with its own status and Appwrite error type (routes' one-off cases;
    domain errors carry theirs on their classes in ``scheduler.rules.errors``)."""

    def __init__(self, code: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.status = code
        self.type = type_


def envelope(err: TocsinError) -> dict[str, object]:
    return {"message": err.message, "code": err.status, "type": err.type,
            "version": APPWRITE_VERSION}


def sync_timeout(limit: float) -> ApiError:
    """Appwrite's 408 for a synchronous run past its limit (``TOCSIN_SYNC_TIMEOUT``;
    with the default 30 s the message is Appwrite's own)."""
    return ApiError(
        408, "function_synchronous_timeout",
        "Synchronous function execution timed out. Use asynchronous execution instead, or "
        f"ensure the execution duration doesn't exceed {limit:g} seconds.")


def invalid_param(name: str, description: str) -> ApiError:
    return ApiError(400, "general_argument_invalid", f"Invalid `{name}` param: {description}")


def missing_scope(scope: str, role: str = "guests") -> ApiError:
    listed = ",".join(f'"{name}"' for name in names_of(scope))
    return ApiError(401, "general_unauthorized_scope",
                    f"User (role: {role}) missing scopes ([{listed}])")


def key_expired() -> ApiError:
    return ApiError(401, "project_key_expired",
                    "The project key has expired. Please generate a new key using the "
                    "Tocsin CLI (tocsin keys create).")


def query_invalid(reason: str) -> ApiError:
    return ApiError(400, "general_query_invalid", f"Invalid query: {reason}")
