"""The host names the API itself is served on: no function domain may take one.

Configured names (``TOCSIN_API_HOSTS``, ``TOCSIN_PUBLIC_URL``'s host) are known from
the start. Where neither is set, the API learns its names from requests: the host a
request carrying a valid API key reached it on, and the host a rule is being created
through, are the API's own. A rule for a learned name is refused, and a request to a
learned name is the API's even if an older rule names it. Learning is per process and
bounded; production should configure the names (the compose file does).
"""

from __future__ import annotations

import threading

from scheduler.rules import forwarding

MAX_LEARNED = 256


class ApiHosts:
    def __init__(self, configured: frozenset[str]) -> None:
        self.configured = configured
        self._learned: set[str] = set()
        self._lock = threading.Lock()

    def learn(self, host_header: str) -> None:
        host = forwarding.host_name(host_header)
        if not host or host in self.configured or host in self._learned:
            return
        with self._lock:
            if len(self._learned) < MAX_LEARNED:
                self._learned.add(host)

    def is_api(self, host: str) -> bool:
        return host in self.configured or host in self._learned
