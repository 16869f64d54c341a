"""The `python-3.*` runtimes: Appwrite's Python function context, so existing
Appwrite functions (``def main(context): return context.res.json({...})``)
run unchanged.

The entrypoint is either ``package.module:callable`` importable by the worker
(only under the module prefixes the operator allows, ``TOCSIN_ENTRYPOINT_MODULES``),
or a file such as ``src/main.py`` under ``TOCSIN_FUNCTIONS_DIR/<projectId>/<functionId>/``
whose ``main(context)`` is called.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scheduler import entrypoints
from scheduler.errors import EntrypointError, EntrypointNotAllowed
from tasks.runtimes import FunctionTimeout, Outcome, Request, run_with_timeout


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
        self.body_text = request.body
        self.body_raw = request.body
        self.body_binary = request.body.encode()

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
    def __init__(self, request: Request) -> None:
        self.req = ContextRequest(request)
        self.res = ContextResponse()
        self._logs: list[str] = []
        self._errors: list[str] = []

    @staticmethod
    def _text(messages: tuple[Any, ...]) -> str:
        return " ".join(m if isinstance(m, str) else json.dumps(m, default=str) for m in messages)

    def log(self, *messages: Any) -> None:
        self._logs.append(self._text(messages))

    def error(self, *messages: Any) -> None:
        self._errors.append(self._text(messages))


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


def run(project_id: str, function_id: str, entrypoint: str, functions_dir: str,
        request: Request, timeout: float, allowed: tuple[str, ...]) -> Outcome:
    context = Context(request)

    def _collect(outcome: Outcome) -> Outcome:
        outcome.logs = "\n".join(context._logs)
        extra = "\n".join(context._errors)
        outcome.errors = "\n".join(e for e in (extra, outcome.errors) if e)
        return outcome

    try:
        main = load_entrypoint(project_id, function_id, entrypoint, functions_dir, allowed)
        response = run_with_timeout(lambda: main(context), timeout)
    except FunctionTimeout:
        return _collect(Outcome(status_code=500, failed=True, timed_out=True,
                                errors=f"Operation timed out after {timeout:g} s"))
    except EntrypointError as exc:
        return _collect(Outcome(status_code=500, failed=True, errors=str(exc)))
    except Exception:
        return _collect(Outcome(status_code=500, failed=True, errors=traceback.format_exc()))
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: a failed run, not a dead worker
        return _collect(Outcome(status_code=500, failed=True,
                                errors=f"Function raised {type(exc).__name__}: {exc}"))
    if not isinstance(response, dict) or "statusCode" not in response:
        return _collect(Outcome(
            status_code=500, failed=True,
            errors="Return statement missing. return context.res.empty() if no response "
                   "is expected.",
        ))
    status = int(response["statusCode"])
    return _collect(Outcome(status_code=status, body=response["body"],
                            headers=response["headers"], failed=status >= 500))
