"""scheduler.rules.ids: Appwrite-valid, distinct across threads and across a fork."""

from __future__ import annotations

import os
import re
import threading

from scheduler.rules import ids


def test_ids_are_valid_uids_and_distinct_across_threads() -> None:
    out: list[list[str]] = [[] for _ in range(4)]

    def draw(slot: list[str]) -> None:
        slot.extend(ids.new_id() for _ in range(5000))

    threads = [threading.Thread(target=draw, args=(slot,)) for slot in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for slot in out for i in slot]
    assert len(set(every)) == len(every) == 20_000
    assert all(re.fullmatch(r"[0-9a-f]{20}", i) for i in every)


def test_a_forked_child_never_repeats_its_parents_pending_ids() -> None:
    ids.new_id()  # the pool now holds ids the parent has not handed out yet
    pending = set(ids._pool)
    assert pending
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it draws, then leave at once
        os.close(read)
        os.write(write, " ".join(ids.new_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    assert len(child) == 50 and not child & pending
