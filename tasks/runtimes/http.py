"""The `http` runtime: the function is a URL; the execution becomes one request to it."""

from __future__ import annotations

import httpx

from tasks.runtimes import Outcome, Request

MAX_RESPONSE_BYTES = 10 * 1024 * 1024


def run(url: str, request: Request, timeout: float) -> Outcome:
    path = request.path if request.path.startswith("/") else "/" + request.path
    target = url.rstrip("/") + path
    try:
        with httpx.Client(follow_redirects=False, timeout=timeout) as client, client.stream(
            request.method, target, headers=request.headers,
            content=request.body.encode() if request.body else None,
        ) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_RESPONSE_BYTES:
                    return Outcome(
                        status_code=500, failed=True,
                        errors=f"Response from {target} is larger than "
                               f"{MAX_RESPONSE_BYTES} bytes; it was cut off.",
                    )
            failed = response.status_code >= 500
            return Outcome(
                status_code=response.status_code, body=bytes(body),
                headers=dict(response.headers), failed=failed,
                errors=f"Function responded with status {response.status_code}" if failed else "",
            )
    except httpx.TimeoutException:
        return Outcome(status_code=500, failed=True, timed_out=True,
                       errors=f"Operation timed out after {timeout:g} s (request to {target})")
    except httpx.HTTPError as exc:
        return Outcome(status_code=500, failed=True,
                       errors=f"Request to {target} failed: {type(exc).__name__}: {exc}")
