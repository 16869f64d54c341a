"""What a function domain passes on, both ways, as a reverse proxy would. Pure.

* Inbound: the request's headers minus hop-by-hop ones (RFC 9110 7.6.1, and any the
  ``Connection`` header names) and minus every ``x-appwrite-*`` a caller sent (those
  are Tocsin's to set: trigger, user, client IP); ``x-forwarded-for/-proto/-host``
  extended as a proxy extends them.
* Outbound: the function's headers minus hop-by-hop and framing ones (the server
  frames the body it sends).
* Credentials (``CREDENTIALS``: ``Authorization``, ``Cookie``, a user's JWT) are split
  off (``split_credentials``): the run gets them in memory, its row never holds them.
  ``x-tocsin-*`` headers are Tocsin's to set (the scheduled time) and are dropped.
* Bodies are bytes end to end; one that is not UTF-8 text (or holds NUL, which a
  PostgreSQL text column refuses) is kept base64-encoded on the execution row.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
})
FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
# What a run is handed but its row never keeps (at rest it could be replayed).
CREDENTIALS = frozenset({"authorization", "cookie", "x-appwrite-user-jwt"})
RESERVED_PREFIXES = ("x-appwrite-", "x-tocsin-")  # set by Tocsin only
MAX_BODY = 10 * 1024 * 1024  # Appwrite's limit on an execution's body
HOST_SUFFIX_SEP = "."


def inbound_headers(raw: Iterable[tuple[str, str]], client_ip: str, scheme: str,
                    ) -> dict[str, str]:
    """The headers a function sees for a domain request (names lower-case; repeated
    headers joined with ", " as HTTP allows)."""
    pairs = [(k.lower(), v) for k, v in raw]
    named = {t.strip().lower() for k, v in pairs if k == "connection" for t in v.split(",")}
    out: dict[str, str] = {}
    for name, value in pairs:
        if name in HOP_BY_HOP or name in named or name.startswith(RESERVED_PREFIXES):
            continue
        out[name] = f"{out[name]}, {value}" if name in out else value
    if client_ip:
        # uvicorn takes the client from X-Forwarded-For when the peer is a trusted
        # proxy (FORWARDED_ALLOW_IPS): the chain then already ends with it.
        before = out.get("x-forwarded-for")
        chain = [p.strip() for p in before.split(",")] if before else []
        if not chain or chain[-1] != client_ip:
            out["x-forwarded-for"] = ", ".join([*chain, client_ip])
        out["x-appwrite-client-ip"] = client_ip
    out.setdefault("x-forwarded-proto", scheme)
    if "host" in out:
        out.setdefault("x-forwarded-host", out["host"])
    return out


def split_credentials(headers: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(headers the row may keep, credentials the run gets only in memory)."""
    kept = {k: v for k, v in headers.items() if k.lower() not in CREDENTIALS}
    secret = {k.lower(): v for k, v in headers.items() if k.lower() in CREDENTIALS}
    return kept, secret


def outbound_headers(headers: Iterable[dict[str, str]]) -> list[tuple[str, str]]:
    """The function's response headers as the domain answers them."""
    return [(h["name"].lower(), h["value"]) for h in headers
            if h["name"].lower() not in FRAMING | HOP_BY_HOP]


def store_body(body: bytes) -> tuple[str, bool]:
    """(text to store, whether it is base64) for a request body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True
    if "\x00" in text:
        return base64.b64encode(body).decode(), True
    return text, False


def host_name(host_header: str) -> str:
    """``Host`` without its port, lower-case; IPv6 literals keep their brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def generated_label(host: str, functions_domain: str) -> str | None:
    """The function id a generated domain names (``<id>.<functions_domain>``), or None
    when ``host`` is not under it. One label only: ids with periods cannot be named."""
    suffix = HOST_SUFFIX_SEP + functions_domain.lower().strip(".")
    if not functions_domain or not host.endswith(suffix):
        return None
    label = host[: -len(suffix)]
    return label if label and "." not in label else ""
