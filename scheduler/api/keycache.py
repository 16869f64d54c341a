"""A short memory of who a key is, so a busy API does not read the same key row on
every request.

An entry lives ``TOCSIN_KEY_CACHE_SECONDS`` (2 s; 0: off) and is keyed by the secret's
hash, never the secret. Expiry is still checked on every request against the cached
``expires_at``. A run's own key (revoked when its run ends) is never cached, so it
does not outlive its run by a moment; a key deleted from the store stops working
within the cache's lifetime.
"""

from __future__ import annotations

import threading
import time

from scheduler.store.projects import KeyView, hash_key

MAX_ENTRIES = 10_000


class KeyCache:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[float, bool, KeyView | None]] = {}

    def get(self, project: str, secret: str) -> tuple[bool, KeyView | None] | None:
        """(project exists, key) if known and fresh, else None."""
        if self.seconds <= 0:
            return None
        entry = self._entries.get((project, hash_key(secret)))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, project: str, secret: str, exists: bool, key: KeyView | None) -> None:
        if self.seconds <= 0 or (key is not None and key.ephemeral):
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[(project, hash_key(secret))] = (
                time.monotonic() + self.seconds, exists, key)
