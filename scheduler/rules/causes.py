"""What a run causes through its own key carries the run. Pure.

A function with ``scopes`` gets a key for each run (Appwrite's dynamic key). Every
event it publishes, execution it creates and function it changes with that key is
*caused* by the run: it carries the run's function, which it never triggers (as an
execution's own events never trigger its function), and the run's depth, so a chain
of runs, each started by the one before through keys or events, ends at
``TOCSIN_EVENT_MAX_DEPTH`` however it loops.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cause:
    """The run behind a request made with its key."""

    function_id: str
    depth: int  # the run's links in its chain (0: started by a person, a schedule, ...)

    @property
    def next_depth(self) -> int:
        """The depth of a run this one starts."""
        return self.depth + 1


def too_deep(depth: int, max_depth: int) -> bool:
    """A run at ``depth`` would make the chain longer than allowed."""
    return depth > max_depth


def too_deep_message(depth: int, max_depth: int) -> str:
    return (f"This execution would be link {depth} of a chain of runs, each started by "
            f"the one before through its key or its events; TOCSIN_EVENT_MAX_DEPTH allows "
            f"{max_depth}.")
