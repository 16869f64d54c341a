"""Appwrite's Python function context, as the code inside a runner sees it.

``main(context)`` gets ``context.req`` (method, headers, path, query, body...) and
``context.res`` (``json``, ``text``, ``binary``, ``send``, ``empty``, ``redirect``), so
existing Appwrite functions run unchanged. Runs inside the runner process only.

The entrypoint is either ``package.module:callable`` (only under the module prefixes
the operator allows, ``TOCSIN_ENTRYPOINT_MODULES``) or a file such as ``src/main.py``
under ``TOCSIN_FUNCTIONS_DIR/<projectId>/<functionId>/`` whose ``main(context)`` is called.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scheduler.rules import entrypoints
from scheduler.rules.errors import EntrypointError, EntrypointNotAllowed


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # raw: a domain request's body may be binary


class ContextRequest:
    def __init__(self, request: Request, host: str = "localhost", port: int = 80) -> None:
        split = urlsplit(request.path or "/")
        self.method = request.method
        self.headers = {k.lower(): v for k, v in request.headers.items()}
        self.path = split.path or "/"
        self.query_string = split.query
        self.query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.scheme = "http"
        self.host = host
        self.port = port
        self.url = f"{self.scheme}://{host}{'' if port == 80 else f':{port}'}{request.path}"
        self.body_binary = request.body
        self.body_text = request.body.decode("utf-8", errors="replace")
        self.body_raw = self.body_text

    @property
    def body(self) -> str:
        return self.body_text

    @property
    def body_json(self) -> Any:
        return json.loads(self.body_text) if self.body_text else {}


Reply = dict[str, Any]  # what a function returns: body, statusCode, headers


class ContextResponse:
    """Each method returns the response the function hands back with ``return``."""

    @staticmethod
    def send(body: Any = "", status_code: int = 200,
             headers: dict[str, str] | None = None) -> Reply:
        data = body if isinstance(body, bytes) else str(body).encode()
        return {"body": data, "statusCode": status_code, "headers": dict(headers or {})}

    def text(self, body: str = "", status_code: int = 200,
             headers: dict[str, str] | None = None) -> Reply:
        return self.send(body, status_code, {"content-type": "text/plain", **(headers or {})})

    def binary(self, body: bytes = b"", status_code: int = 200,
               headers: dict[str, str] | None = None) -> Reply:
        return self.send(body, status_code,
                         {"content-type": "application/octet-stream", **(headers or {})})

    def json(self, obj: Any = None, status_code: int = 200,
             headers: dict[str, str] | None = None) -> Reply:
        return self.send(json.dumps(obj), status_code,
                         {"content-type": "application/json", **(headers or {})})

    def empty(self) -> Reply:
        return self.send("", 204, {})

    def redirect(self, url: str, status_code: int = 301,
                 headers: dict[str, str] | None = None) -> Reply:
        return self.send("", status_code, {**(headers or {}), "location": url})


class Context:
    """What ``main(context)`` gets. ``log`` and ``error`` write lines to the runner's
    stdout and stderr, so they stay in order with the function's own prints."""

    def __init__(self, request: Request) -> None:
        self.req = ContextRequest(request)
        self.res = ContextResponse()

    @staticmethod
    def _text(messages: tuple[Any, ...]) -> str:
        return " ".join(m if isinstance(m, str) else json.dumps(m, default=str) for m in messages)

    def log(self, *messages: Any) -> None:
        sys.stdout.write(self._text(messages) + "\n")
        sys.stdout.flush()

    def error(self, *messages: Any) -> None:
        sys.stderr.write(self._text(messages) + "\n")
        sys.stderr.flush()


def load_entrypoint(project_id: str, function_id: str, entrypoint: str, functions_dir: str,
                    allowed: tuple[str, ...]) -> Callable[..., Any]:
    if not entrypoint:
        raise EntrypointError("Function has no entrypoint")
    try:
        entrypoints.check(entrypoint, allowed)
    except EntrypointNotAllowed as exc:
        raise EntrypointError(f"Entrypoint {exc}") from None
    parts = entrypoints.module_of(entrypoint)
    if parts is not None:
        module_name, attr = parts
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise EntrypointError(f"Entrypoint '{entrypoint}' cannot be loaded: {exc}") from None
    # Each project's files apart: another project naming the same function id must
    # never reach this code.
    root = (Path(functions_dir) / project_id / function_id).resolve()
    path = (root / entrypoint).resolve()
    shown = f"{project_id}/{function_id}/"  # relative to TOCSIN_FUNCTIONS_DIR: no server paths
    if root not in path.parents or not path.is_file():
        raise EntrypointError(f"Entrypoint file '{entrypoint}' not found under {shown} in "
                              "the functions directory")
    spec = importlib.util.spec_from_file_location(f"tocsin_fn_{project_id}_{function_id}", path)
    if spec is None or spec.loader is None:
        raise EntrypointError(f"Entrypoint file '{entrypoint}' is not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if not callable(main):
        raise EntrypointError(f"Entrypoint file '{entrypoint}' has no main(context) function")
    return main
