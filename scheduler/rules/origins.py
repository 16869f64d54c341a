"""Browser origins: which may call the API and function domains (CORS). Pure.

An allowed origin is ``scheme://host[:port]``, ``scheme://*.domain`` (any
subdomain, not the domain itself) or ``*`` (any origin, only when written so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from scheduler.rules.errors import InvalidInput

ANY = "*"
_ORIGIN = re.compile(r"^(https?)://(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)"
                     r"(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$")
RULE = ("an origin such as https://app.example.com or http://localhost:5173 "
        "(scheme, host and optional port; no path), https://*.example.com for any "
        "subdomain, or * for any origin")


class OriginError(InvalidInput):
    """Not an origin a platform can allow."""


def check_origin(value: str) -> str:
    """``value`` normalised (lower-case, no trailing slash) if allowed as a platform."""
    origin = value.strip().lower().rstrip("/")
    if origin == ANY or _ORIGIN.match(origin):
        return origin
    raise OriginError(f'"{value}" is not a valid platform: use {RULE}.')


def allows(allowed: Iterable[str], origin: str) -> bool:
    """Whether a browser page at ``origin`` may read the answers."""
    origin = origin.lower().rstrip("/")
    for entry in allowed:
        if entry in (ANY, origin):
            return True
        if "://*." in entry:
            scheme, _, domain = entry.partition("://*.")
            o_scheme, _, o_host = origin.partition("://")
            if o_scheme == scheme and o_host.endswith("." + domain):
                return True
    return False
