"""The `http` runtime: the function is a URL; the execution becomes one request to it.

The path is confined under the URL's path, framing and hop-by-hop headers are never
taken from the caller, and with ``TOCSIN_HTTP_DENY_PRIVATE`` the request connects
only to the public address it checked (see ``scheduler.rules.httprules``). Nothing of the
worker's environment is sent.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from scheduler.rules.errors import AddressError, PathError
from scheduler.rules.httprules import REFUSED_HEADERS, confine, resolve_public
from tasks.runner.context import Request
from tasks.runner.outcome import Outcome

MAX_RESPONSE_BYTES = 10 * 1024 * 1024


def _failed(message: str, timed_out: bool = False) -> Outcome:
    return Outcome(status_code=500, failed=True, errors=message, timed_out=timed_out)


def run(url: str, request: Request, timeout: float, deny_private: bool = True) -> Outcome:
    try:
        base = httpx.URL(url)
        target = base.copy_with(raw_path=confine(base.raw_path.decode().partition("?")[0],
                                                 request.path or "/").encode())
    except (PathError, httpx.InvalidURL, ValueError) as exc:
        return _failed(f"Invalid execution path '{request.path[:200]}': {exc}")
    shown = str(target)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in REFUSED_HEADERS}
    extensions: dict[str, object] = {}
    if deny_private:
        host = urlsplit(url).hostname or ""
        try:
            address = resolve_public(host, target.port or (443 if target.scheme == "https"
                                                           else 80))
        except AddressError as exc:
            return _failed(f"Request to {shown} refused: {exc}")
        headers["host"] = base.netloc.decode()
        if target.scheme == "https":
            extensions["sni_hostname"] = host
        target = target.copy_with(host=address)
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client, \
                client.stream(request.method, target, headers=headers,
                              content=request.body or None,
                              extensions=extensions) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_RESPONSE_BYTES:
                    return _failed(f"Response from {shown} is larger than "
                                   f"{MAX_RESPONSE_BYTES} bytes; it was cut off.")
            failed = response.status_code >= 500
            return Outcome(
                status_code=response.status_code, body=bytes(body),
                headers=dict(response.headers), failed=failed, responded=True,
                errors=f"Function responded with status {response.status_code}" if failed else "",
            )
    except httpx.TimeoutException:
        return _failed(f"Operation timed out after {timeout:g} s (request to {shown})",
                       timed_out=True)
    except Exception as exc:  # any malformed exchange is this run's failure, not the worker's
        return _failed(f"Request to {shown} failed: {type(exc).__name__}: {exc}")
