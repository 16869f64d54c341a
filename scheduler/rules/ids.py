"""Ids Tocsin makes: 20 hex characters (80 random bits), valid Appwrite UIDs.

Randomness is drawn from the OS 256 ids at a time: one ``getrandom`` call per id was
6 us, 0.6 s of a 100,000-fire burst. A forked child (Celery's prefork pool, uvicorn's
workers) starts with an empty pool, so no two processes ever hand out the same id.
"""

from __future__ import annotations

import os
import secrets

BATCH = 256
_pool: list[str] = []


def _refill() -> None:
    raw = secrets.token_bytes(10 * BATCH).hex()
    _pool.extend(raw[i : i + 20] for i in range(0, len(raw), 20))


def new_id() -> str:
    while True:
        try:
            return _pool.pop()  # atomic: threads never share an id
        except IndexError:
            _refill()


os.register_at_fork(after_in_child=_pool.clear)
