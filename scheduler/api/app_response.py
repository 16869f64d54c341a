"""JSON responses with Appwrite's content type (shared by the app and routes)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

JSON_TYPE = "application/json; charset=UTF-8"


class AppwriteJSON(JSONResponse):
    media_type = JSON_TYPE


def json_response(body: Any, status: int = 200) -> JSONResponse:
    return AppwriteJSON(body, status_code=status)
