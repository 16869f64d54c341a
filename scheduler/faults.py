"""Fault points: where chaos tests stop a process at the worst moment.

``TOCSIN_FAULT_PAUSE=name[:n][,name[:n]...]`` makes the process stop itself
(``SIGSTOP``, the whole process, as a VM pause or ``kill -STOP`` would) the
``n``-th time (default: first) it reaches ``pause_point(name)``. Unset, a
pause point costs one dictionary lookup. The names in use:

* ``lease.renew.locked``    the renewal ``UPDATE`` ran, the commit has not
* ``lease.campaign.locked`` the lease row is locked ``FOR UPDATE``
* ``dispatch.claimed``      due schedules are claimed (row locks held)
* ``dispatch.copy.tocsin_fires`` in the middle of the fires' ``COPY``
* ``dispatch.pinned``       the lease row is pinned, the commit has not run
* ``record.pending``        a worker's asynchronous run has ended, its message may be
                            acknowledged, its outcome is not recorded (tasks.recorder)
"""

from __future__ import annotations

import os
import signal
import threading


def _parse(spec: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, nth = item.partition(":")
        points[name] = int(nth or 1)
    return points


_points = _parse(os.environ.get("TOCSIN_FAULT_PAUSE", ""))
_lock = threading.Lock()


def pause_point(name: str) -> None:
    if not _points or name not in _points:
        return
    with _lock:
        _points[name] -= 1
        if _points[name] != 0:
            return
    # To this thread, not the process: a process-directed SIGSTOP is taken by whichever
    # thread the kernel wakes (usually the idle main thread), and this one could run on
    # for a moment, long enough to commit the very transaction it meant to hold open.
    # Sent to itself, the stop is taken on the way back from this very call.
    signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
