"""Cap request bodies while they stream in, before anything parses them.

A declared ``Content-Length`` over the cap is refused before a byte is read; a body
that streams past it (chunked, or lying about its length) is cut off as it crosses
the cap. Either way: 413 with Appwrite's error envelope, and at most the cap in memory.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from scheduler.api.app_response import AppwriteJSON
from scheduler.api.errors import PAYLOAD_TOO_LARGE, ApiError, envelope


def too_large(limit: int) -> ApiError:
    return ApiError(PAYLOAD_TOO_LARGE, f"Request body is larger than the {limit:,} bytes this "
                                    "server accepts (TOCSIN_MAX_REQUEST_BYTES).")


class PayloadTooLarge(HTTPException):
    """Raised from the body stream; an HTTPException, so request parsing passes it on
    untouched, and the app's handler renders it as ``too_large``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit).message)


class BodyLimit:
    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            err = too_large(self.limit)
            response = AppwriteJSON(envelope(err), status_code=413,
                                    headers={"connection": "close"})
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)
