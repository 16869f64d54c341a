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
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from scheduler.rules import entrypoints
from scheduler.rules.errors import EntrypointError, EntrypointNotAllowed

# A function folder's own Python packages: where a deployment's build has pip install
# them (``PIP_TARGET``, ``tasks.deploy.build``); first on the import path when present.
PACKAGES = ".tocsin-packages"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes  # raw: a domain request's body may be binary


class ContextRequest:
    """``context.req`` as Open Runtimes' Python runtime builds it (``server.py``,
    ``function_types.py``): the path and query string URL-decoded, the query split on
    ``&`` and the first ``=``, the scheme from ``x-forwarded-proto``, host and port from
    the ``host`` header, and the body read by its content type."""

    def __init__(self, request: Request) -> None:
        split = urlsplit(request.path or "/")
        self.method = request.method
        self.headers = {k.lower(): v for k, v in request.headers.items()
                        if not k.lower().startswith("x-open-runtimes-")}
        self.path = unquote(split.path) or "/"
        self.query_string = _decoded_query(split.query)
        self.query: dict[str, str] = {}
        for param in self.query_string.split("&"):
            key, _, value = param.partition("=")
            if key:
                self.query[key] = value
        self.scheme = self.headers.get("x-forwarded-proto", "http")
        default_port = 443 if self.scheme == "https" else 80
        host = self.headers.get("host", "")
        if ":" in host:
            self.host, port = host.split(":", 1)
            self.port = int(port) if port.isdigit() else default_port
        else:
            self.host, self.port = host, default_port
        self.url = f"{self.scheme}://{self.host}"
        if self.port != default_port:
            self.url += f":{self.port}"
        self.url += self.path + (f"?{self.query_string}" if self.query_string else "")
        self.body_binary = request.body

    @property
    def body_text(self) -> str:
        return self.body_binary.decode("utf-8")

    @property
    def body_json(self) -> Any:
        return json.loads(self.body_text)

    @property
    def body_raw(self) -> str:
        return self.body_text

    @property
    def body(self) -> Any:
        """Parsed JSON for a JSON content type (``{}`` when empty), else the text."""
        if self.headers.get("content-type", "text/plain").lower().startswith(
                "application/json"):
            return self.body_json if self.body_binary else {}
        return self.body_text


def _decoded_query(raw: str) -> str:
    """The query string decoded as Open Runtimes' server (aiohttp, yarl) gives it: ``+``
    is a space and escapes are decoded, except those of the separators ``&``, ``=``,
    ``+`` and ``;``, which stay escaped so the split still finds the same pairs."""
    def decode(part: str) -> str:
        return unquote(part.replace("+", " "))
    pieces = re.split(r"(%(?:26|3[dD]|2[bB]|3[bB]))", raw)
    return "".join(p.upper() if i % 2 else decode(p) for i, p in enumerate(pieces))


Reply = dict[str, Any]  # what a function returns: body, statusCode, headers


class ContextResponse:
    """``context.res`` as Open Runtimes' Python runtime has it. Each method returns the
    response the function hands back with ``return``; ``statusCode`` is the keyword, as
    Appwrite's docs write it (``status_code``, Tocsin's spelling before, still works).
    The content type is completed as the runtime's server does it (``call``)."""

    @staticmethod
    def _reply(body: Any, status: int, headers: dict[str, str] | None) -> Reply:
        return {"body": body, "statusCode": status, "headers": dict(headers or {})}

    def send(self, body: Any = "", statusCode: int = 200,
             headers: dict[str, str] | None = None, *, status_code: int | None = None
             ) -> Reply:
        return self._reply(body, status_code or statusCode, headers)

    def binary(self, bytes: bytes = b"", statusCode: int = 200,
               headers: dict[str, str] | None = None, *, status_code: int | None = None
               ) -> Reply:
        return self._reply(bytes, status_code or statusCode, headers)

    def text(self, body: str = "", statusCode: int = 200,
             headers: dict[str, str] | None = None, *, status_code: int | None = None
             ) -> Reply:
        return self._reply(str(body).encode("utf-8"), status_code or statusCode, headers)

    def json(self, obj: Any = None, statusCode: int = 200,
             headers: dict[str, str] | None = None, *, status_code: int | None = None
             ) -> Reply:
        return self.text(json.dumps(obj, separators=(",", ":")), status_code or statusCode,
                         {**(headers or {}), "content-type": "application/json"})

    def empty(self) -> Reply:
        return self.text("", 204, {})

    def redirect(self, url: str, statusCode: int = 301,
                 headers: dict[str, str] | None = None, *, status_code: int | None = None
                 ) -> Reply:
        return self.text("", status_code or statusCode, {**(headers or {}), "location": url})


def log_line(messages: tuple[Any, ...]) -> str:
    """``context.log``'s rendering in Open Runtimes: lists, dicts and tuples as compact
    JSON, anything else by ``str``, joined by spaces."""
    return " ".join(json.dumps(m, separators=(",", ":")) if isinstance(m, list | dict | tuple)
                    else str(m) for m in messages)


class Context:
    """What ``main(context)`` gets. ``log`` and ``error`` write lines to the runner's
    stdout and stderr, so they stay in order with the function's own prints."""

    def __init__(self, request: Request) -> None:
        self.req = ContextRequest(request)
        self.res = ContextResponse()

    def log(self, *messages: Any) -> None:
        sys.stdout.write(log_line(messages) + "\n")
        sys.stdout.flush()

    def error(self, *messages: Any) -> None:
        sys.stderr.write(log_line(messages) + "\n")
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
    packages = root / PACKAGES
    if packages.is_dir():  # what its deployment's build installed (``pip install``)
        sys.path.insert(0, str(packages))
    spec = importlib.util.spec_from_file_location(f"tocsin_fn_{project_id}_{function_id}", path)
    if spec is None or spec.loader is None:
        raise EntrypointError(f"Entrypoint file '{entrypoint}' is not a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    main = getattr(module, "main", None)
    if not callable(main):
        raise EntrypointError(f"Entrypoint file '{entrypoint}' has no main(context) function")
    return main
