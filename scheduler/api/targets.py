"""Which function (and project) a request names by its host or path, if any.

Three ways, all on the API's own port: a generated domain
(``Host: <functionId>.<TOCSIN_FUNCTIONS_DOMAIN>``), a Proxy API rule's domain, and the
path form ``/v1/run/<functionId>/<path>``. Any other host is the API, unless
``TOCSIN_API_HOSTS`` lists the API's hosts: then it is 404 ``router_host_not_found``.
A host the API is known to be served on (``api.hosts``) is the API's even if a rule
names it. Shared by the domains middleware (to run the function) and CORS (to judge
a preflight by the function's project).
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from scheduler.api.asgi import header
from scheduler.api.hosts import ApiHosts
from scheduler.config import Settings
from scheduler.rules import forwarding
from scheduler.rules.errors import RouterHostNotFound
from scheduler.store import domain_rules as proxy_store
from scheduler.store import functions as functions_store
from scheduler.store.db import transaction

PATH_FORM = "/v1/run/"
CACHE_SECONDS = 2.0  # how long a domain's answer (function, or none) is reused


@dataclass(frozen=True)
class Target:
    """The function a request names: by id (generated domain, path form) or by rule."""

    function_id: str
    project_id: str | None  # known from a rule; by id, looked up
    path: str  # what the function sees: path and query string


class Targets:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session],
                 hosts: ApiHosts) -> None:
        self.sessions = sessions
        self.functions_domain = settings.functions_domain.lower().strip(".")
        self.api_hosts = hosts
        self.api_hosts_listed = bool(settings.api_hosts.strip())
        self._seen: dict[str, tuple[float, tuple[str, str] | None]] = {}

    async def target(self, scope: dict[str, Any]) -> Target | None:
        """The function ``scope`` names; None: the API's own request."""
        # The path as sent (percent-escapes intact), then the query string.
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        if path.startswith(PATH_FORM):
            function_id, _, rest = path[len(PATH_FORM):].partition("/")
            return Target(function_id, None, _with_query("/" + rest, query))
        host = forwarding.host_name(header(scope, b"host"))
        full = _with_query(path, query)
        label = forwarding.generated_label(host, self.functions_domain)
        if label is not None:
            if not label:
                raise RouterHostNotFound()
            return Target(label, None, full)
        if not host or _is_address(host) or host == "localhost" or self.api_hosts.is_api(host):
            return None
        rule = await self._cached(host)
        if rule is None:
            if self.api_hosts_listed:
                raise RouterHostNotFound()
            return None
        return Target(rule[1], rule[0], full)

    async def locate(self, target: Target) -> tuple[str, str]:
        """(project, function) of a target; RouterHostNotFound if no one function is."""
        if target.project_id is not None:
            return target.project_id, target.function_id
        return await run_in_threadpool(self._named_anywhere, target.function_id)

    def _named_anywhere(self, function_id: str) -> tuple[str, str]:
        with transaction(self.sessions) as session:
            found = functions_store.named_anywhere(session, function_id)
        if len(found) != 1:  # none, or the same id in two projects: a rule is needed
            raise RouterHostNotFound()
        return found[0]

    async def _cached(self, host: str) -> tuple[str, str] | None:
        now = time.monotonic()
        hit = self._seen.get(host)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = await run_in_threadpool(self._rule_of, host)
        if len(self._seen) > 10_000:  # many hosts probed: start over, never grow
            self._seen.clear()
        self._seen[host] = (now + CACHE_SECONDS, found)
        return found

    def _rule_of(self, host: str) -> tuple[str, str] | None:
        with transaction(self.sessions) as session:
            rule = proxy_store.by_domain(session, host)
            return (rule.project_id, rule.function_id) if rule else None


def _with_query(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
