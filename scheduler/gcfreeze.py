"""Garbage collection for long-running processes: what was built at start-up is frozen
out of the collector's sight.

A full (generation 2) collection walks every tracked object. In an API process that is
the whole of FastAPI, pydantic, SQLAlchemy and the routes: measured at 70-87 ms, about
once a second under 16 clients, each one a stall for every request in flight (it was
the create route's p99 of ~80 ms). Those objects live as long as the process, so they
are moved to the permanent generation once start-up is done (``gc.freeze``); a full
collection then walks only what was made since: about 2 ms. Nothing is leaked: cycles
made after the freeze are still collected, and frozen objects were never garbage.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect once, then freeze what survives (call when start-up is done)."""
    gc.collect()
    gc.freeze()
