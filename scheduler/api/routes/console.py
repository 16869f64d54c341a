"""/console: the web console, static files shipped in the package.

It talks to Tocsin only through the public REST API (the SDKs' API), with the key
the operator signs in with, so it can never do what the API would refuse. Served
with a strict Content-Security-Policy: its own scripts and styles only, no inline
code, no other origin.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from scheduler.rules.errors import NotFound

router = APIRouter(include_in_schema=False)

JS = "text/javascript; charset=utf-8"
ASSETS = {"console.js": JS, "core.js": JS, "deployments.js": JS, "domains.js": JS,
          "functions.js": JS, "runs.js": JS,
          "console.css": "text/css; charset=utf-8"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-cache"}


def _read(name: str) -> bytes:
    return files("scheduler.console").joinpath(name).read_bytes()


@router.get("/console")
def index() -> Response:
    return Response(_read("index.html"), media_type="text/html; charset=utf-8",
                    headers=SECURITY_HEADERS)


@router.get("/console/")
def index_slash() -> RedirectResponse:
    return RedirectResponse("/console")


@router.get("/console/{asset}")
def asset(asset: str) -> Response:
    if asset not in ASSETS:
        raise NotFound("No such console file.")
    return Response(_read(asset), media_type=ASSETS[asset], headers=SECURITY_HEADERS)
