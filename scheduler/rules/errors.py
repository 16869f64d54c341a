"""Every error Tocsin raises on purpose, under one base class.

A class's docstring is its default message. ``status`` and ``type`` say how the
API answers it (Appwrite's error envelope); ``scheduler.api.app`` maps any
``TocsinError`` that reaches it in one handler, so routes raise and never
translate. Errors about input also derive from ``ValueError``, so pure rules
stay usable with plain ``except ValueError``.

Imports nothing from Tocsin: every layer may raise these.
"""

from __future__ import annotations


class TocsinError(Exception):
    """Server Error: the request could not be completed."""

    status: int = 500
    type: str = "general_unknown"
    exit_code: int = 1  # when it ends a CLI command

    def __init__(self, message: str | None = None) -> None:
        self.message = message or _first_paragraph(type(self).__doc__)
        super().__init__(self.message)


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


# ----------------------------------------------------------------------------- configuration


class ConfigError(TocsinError):
    """A setting is invalid; the message is one line fit for an operator."""

    exit_code = 2


class CliError(TocsinError):
    """The command cannot do what was asked; the CLI exits non-zero with this line."""

    exit_code = 1


class CliUsageError(CliError):
    """The command line asks for something invalid."""

    exit_code = 2


# ------------------------------------------------------------------------------- bad input


class InvalidInput(TocsinError, ValueError):
    """Invalid input."""

    status = 400
    type = "general_argument_invalid"


class CronError(InvalidInput):
    """An expression Tocsin will not run; the message says why and what is allowed."""


class ScheduleError(InvalidInput):
    """A ``scheduledAt`` value Appwrite would reject."""


class EntrypointNotAllowed(InvalidInput):
    """The entrypoint names a module outside the allowed prefixes."""


class PathError(InvalidInput):
    """The path cannot be sent as given."""


class AddressError(InvalidInput):
    """The URL's host resolves to an address the policy refuses."""


class EventNameError(InvalidInput):
    """An event name or pattern Tocsin cannot match; the message names it and the rule."""


class CursorNotFound(InvalidInput):
    """Cursor not found: the document does not exist."""

    type = "general_cursor_not_found"

    def __init__(self, document_id: str) -> None:
        super().__init__(f"Cursor not found: document '{document_id}' does not exist.")
        self.document_id = document_id


# ------------------------------------------------------------------------ missing, existing


class NotFound(TocsinError):
    """The requested resource could not be found."""

    status = 404
    type = "general_not_found"


class FunctionNotFound(NotFound):
    """Function with the requested ID could not be found."""

    type = "function_not_found"


class ExecutionNotFound(NotFound):
    """Execution with the requested ID could not be found."""

    type = "execution_not_found"


class ScheduleNotFound(NotFound):
    """Schedule with the requested ID could not be found."""

    type = "schedule_not_found"


class VariableNotFound(NotFound):
    """Variable with the requested ID could not be found."""

    type = "variable_not_found"


class BackfillNotFound(NotFound):
    """Backfill with the requested ID could not be found."""

    type = "backfill_not_found"


class RuleNotFound(NotFound):
    """Rule with the requested ID could not be found."""

    type = "rule_not_found"


class ProjectNotFound(NotFound):
    """Project with the requested ID could not be found. Please check the value of the
    X-Appwrite-Project header to ensure the correct project ID is being used."""

    type = "project_not_found"


class RouterHostNotFound(NotFound):
    """Host is not trusted. This could occur because you have not configured a custom
    domain. Add a custom domain to your project first and try again."""

    type = "router_host_not_found"


class DeploymentNotFound(NotFound):
    """Deployment with the requested ID could not be found."""

    type = "deployment_not_found"


# ------------------------------------------------------------------------------ deployments


class EntrypointMissing(TocsinError):
    """Entrypoint for your Appwrite Function is missing. Please specify it when making
    deployment or update the entrypoint under your function's "Settings" >
    "Configuration" > "Entrypoint"."""

    status = 404
    type = "function_entrypoint_missing"


class FileEmpty(InvalidInput):
    """No file sent."""

    type = "storage_file_empty"


class FileTypeUnsupported(InvalidInput):
    """The given file extension is not supported: a deployment's code is a gzipped tar
    archive (a file name ending in .gz, such as code.tar.gz)."""

    type = "storage_file_type_unsupported"


class FileSizeInvalid(InvalidInput):
    """The file size is either not valid or exceeds the maximum allowed size."""

    type = "storage_invalid_file_size"


class ContentRangeInvalid(InvalidInput):
    """The content range is invalid. Please check the value of the Content-Range
    header."""

    type = "storage_invalid_content_range"


class BuildNotReady(TocsinError):
    """Build with the requested ID is building and not ready for execution."""

    status = 400
    type = "build_not_ready"


class BuildAlreadyFinished(TocsinError):
    """The build has already finished (ready, failed or canceled) and cannot be
    canceled."""

    status = 400
    type = "build_already_completed"


# --------------------------------------------------------------------------------- callers


class UserJwtInvalid(TocsinError):
    """The JWT token is invalid. Please check the value of the X-Appwrite-JWT header to
    ensure the correct token is being used."""

    status = 401
    type = "user_jwt_invalid"


class UserUnauthorized(TocsinError):
    """The current user is not authorized to perform the requested action."""

    status = 401
    type = "user_unauthorized"


class AlreadyExists(TocsinError):
    """A resource with the requested ID already exists."""

    status = 409
    type = "general_conflict"


class FunctionAlreadyExists(AlreadyExists):
    """Function with the requested ID already exists."""

    type = "function_already_exists"


class RuleAlreadyExists(AlreadyExists):
    """Domain is already used. Please try again with a different domain."""

    type = "rule_already_exists"


class ScheduleAlreadyExists(AlreadyExists):
    """A schedule with this key already exists for the function."""

    type = "schedule_already_exists"


class VariableAlreadyExists(AlreadyExists):
    """Variable with the same ID already exists in this project. Try again with a
    different ID."""

    type = "variable_already_exists"


class ExecutionInProgress(TocsinError):
    """Can't delete ongoing execution. Please wait for execution to finish before
    deleting it."""

    status = 400
    type = "execution_in_progress"


class ExecutionNotRunning(TocsinError):
    """Only a waiting or processing execution can be cancelled, and this one is not
    (a finished run stays as it ended; a scheduled one is cancelled by deleting it)."""

    status = 400
    type = "execution_not_running"


class ExecutionNotFinished(TocsinError):
    """Only a finished execution (completed or failed) can be re-run: wait for this one
    to finish, or cancel it first."""

    status = 400
    type = "execution_not_finished"


class Overloaded(TocsinError):
    """The server is busy: every database connection this process may use is taken.
    Try again in a moment."""

    status = 503
    type = "general_server_error"


# ------------------------------------------------------------------------ scheduling, running


class FencedOut(TocsinError):
    """This node no longer holds the lease with this epoch; it must not write."""


class EntrypointError(TocsinError):
    """The function's entrypoint cannot be loaded."""
