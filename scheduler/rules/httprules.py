"""What an execution may ask of a function's URL. Pure (address resolution aside).

* Framing and hop-by-hop headers are the transport's, never the caller's: a caller
  who sets ``Content-Length`` or ``Transfer-Encoding`` can smuggle a second request.
* An execution's path lives under the function URL's path: dot segments (also
  percent-encoded ones) are resolved and cannot climb above it.
* With ``TOCSIN_HTTP_DENY_PRIVATE`` a function URL may only reach public addresses;
  the check is made on the resolved address the request then connects to, so a
  name that resolves differently a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import unquote, urlsplit

from scheduler.rules.errors import AddressError, PathError

# Set by the transport; a caller may not choose them (RFC 9110 7.6.1, plus framing).
REFUSED_HEADERS = frozenset({
    "host", "content-length", "transfer-encoding", "connection", "keep-alive",
    "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "upgrade", "expect",
})
_CONTROL = frozenset(chr(c) for c in range(32)) | {"\x7f"}


def check_path(path: str) -> None:
    if any(c in _CONTROL for c in path):
        raise PathError("path must not contain control characters (CR, LF, TAB, NUL, ...)")
    if "\\" in path:
        raise PathError("path must not contain backslashes")


def confine(base_path: str, path: str) -> str:
    """``path`` (with its query) under ``base_path``, dot segments resolved within it."""
    check_path(path)
    path, _, query = path.partition("?")
    path = path.partition("#")[0]
    segments: list[str] = []
    for segment in path.split("/"):
        decoded = unquote(segment)
        if "/" in decoded or "\\" in decoded:
            raise PathError("path must not contain encoded slashes")
        if decoded in ("", "."):
            continue
        if decoded == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    joined = base_path.rstrip("/") + "/" + "/".join(segments) + trailing
    return joined + (f"?{query}" if query else "")


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_public(host: str, port: int) -> str:
    """The address to connect to: every address ``host`` resolves to must be public
    (a name with one private address is refused whole)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise AddressError(f"cannot resolve '{host}': {exc}") from None
    addresses = [str(info[4][0]) for info in infos]
    refused = [a for a in addresses if not is_public(a)]
    if refused or not addresses:
        raise AddressError(
            f"'{host}' resolves to a non-public address ({refused[0] if refused else 'none'}); "
            "TOCSIN_HTTP_DENY_PRIVATE refuses loopback, private, link-local and other "
            "non-public addresses")
    return addresses[0]


def has_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return parts.username is not None or parts.password is not None


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()
