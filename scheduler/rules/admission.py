"""Fair hand-over: which asynchronous runs go to the broker now, and which wait. Pure.

The broker serves one queue in order, so a project with 3,000 runs queued would make
every other project's run wait behind all of them. Two bounds keep that from
happening, both counted from PostgreSQL (``store.admission``):

* **A project's window.** At most ``window`` of a project's asynchronous runs are in
  the broker and not yet claimed. The rest stay ``waiting`` and unmarked in PostgreSQL
  and are handed over, oldest first, as its runs are claimed (a claim returns the
  credit). Another project's run is then queued behind at most ``window`` runs of each
  busy project, never behind a backlog. A run is never handed over ahead of an older
  held one of its project (first in, first out within a project).
* **A function's ``maxConcurrency``** (Tocsin's own; Appwrite has no such limit). At
  most that many of its asynchronous runs are in flight (handed over or running). The
  hand-over respects it; the claim enforces it exactly (a run whose function is at
  its limit when a worker takes it goes back to waiting, unmarked, and is handed over
  again when one of the function's runs ends).

Synchronous runs are never held back: they have their own lane, and a caller waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

DEFAULT_WINDOW = 32
MAX_CONCURRENCY = 10_000  # the largest maxConcurrency a function may ask


def room(used: int, limit: int | None) -> int | None:
    """How many more may go; None: no limit."""
    return None if limit is None else max(0, limit - used)


def admit(candidates: Iterable[tuple[str, str]], project_room: int,
          function_rooms: Mapping[str, int | None]) -> list[str]:
    """The candidates (``(execution id, function id)``, oldest first) handed over now:
    the longest prefix of the project's order the window allows, skipping the runs of
    a function with no room left (they keep their place; others may pass them, since a
    function's own limit holds them, not the project's order)."""
    chosen: list[str] = []
    rooms = dict(function_rooms)
    for execution_id, function_id in candidates:
        if len(chosen) >= project_room:
            break
        left = rooms.get(function_id)
        if left is not None:
            if left <= 0:
                continue
            rooms[function_id] = left - 1
        chosen.append(execution_id)
    return chosen
