"""Appwrite's error envelope ``{message, code, type, version}`` and the errors we raise."""

from __future__ import annotations

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


class ApiError(Exception):
    def __init__(self, code: int, type_: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.type = type_
        self.message = message

    def body(self) -> dict[str, object]:
        return {"message": self.message, "code": self.code, "type": self.type,
                "version": APPWRITE_VERSION}


def invalid_param(name: str, description: str) -> ApiError:
    return ApiError(400, "general_argument_invalid", f"Invalid `{name}` param: {description}")


def function_not_found() -> ApiError:
    return ApiError(404, "function_not_found", "Function with the requested ID could not be found.")


def execution_not_found() -> ApiError:
    return ApiError(404, "execution_not_found",
                    "Execution with the requested ID could not be found.")


def schedule_not_found() -> ApiError:
    return ApiError(404, "schedule_not_found", "Schedule with the requested ID could not be found.")


def project_not_found() -> ApiError:
    return ApiError(
        404, "project_not_found",
        "Project with the requested ID could not be found. Please check the value of the "
        "X-Appwrite-Project header to ensure the correct project ID is being used.",
    )


def missing_scope(scope: str, role: str = "guests") -> ApiError:
    return ApiError(401, "general_unauthorized_scope",
                    f'User (role: {role}) missing scopes (["{scope}"])')


def key_expired() -> ApiError:
    return ApiError(401, "project_key_expired",
                    "The project key has expired. Please generate a new key using the "
                    "Tocsin CLI (tocsin keys create).")


def query_invalid(reason: str) -> ApiError:
    return ApiError(400, "general_query_invalid", f"Invalid query: {reason}")
