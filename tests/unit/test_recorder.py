"""The worker's outcome recorder (tasks.recorder): in order, batched, bounded, drained at
close."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tasks.recorder import Recorder


def _recorder(pending: int = 4, hold: float = 0.0
              ) -> tuple[Recorder[Callable[[], object]], list[list[str]]]:
    """A recorder whose outcomes are callables: a batch is recorded by calling each, and
    ``batches`` lists each batch's results with the thread that recorded it."""
    batches: list[list[str]] = []

    def flush(batch: list[Callable[[], object]]) -> None:
        batches.append([f"{item()}@{threading.current_thread().name}" for item in batch])

    return Recorder(flush, pending=pending, hold=hold), batches


def test_records_inline_until_started():
    recorder, batches = _recorder()
    recorder.submit(lambda: "a")
    assert batches == [[f"a@{threading.current_thread().name}"]]


def test_records_in_order_off_the_callers_thread_and_close_drains_them():
    recorder, batches = _recorder(pending=4)
    recorder.start()
    gate = threading.Event()
    recorder.submit(gate.wait)  # held: what follows waits behind it
    for i in range(4):
        recorder.submit(lambda i=i: i)
    assert batches == []
    gate.set()
    assert recorder.close(timeout=5)
    done = [entry for batch in batches for entry in batch]
    assert done == [f"{x}@tocsin-recorder" for x in (True, 0, 1, 2, 3)]
    assert not recorder.running


def test_outcomes_ending_within_the_hold_are_recorded_in_one_batch():
    recorder, batches = _recorder(pending=8, hold=0.3)
    recorder.start()
    for i in range(5):
        recorder.submit(lambda i=i: i)
    deadline = time.monotonic() + 5
    while not batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batches == [[f"{i}@tocsin-recorder" for i in range(5)]]
    recorder.submit(lambda: "later")  # after the batch: a batch of its own
    assert recorder.close(timeout=5)
    assert batches[1:] == [["later@tocsin-recorder"]]


def test_close_records_what_is_held_without_waiting_out_the_hold():
    recorder, batches = _recorder(hold=30)
    recorder.start()
    recorder.submit(lambda: "held")
    time.sleep(0.1)  # taken off the queue: the hold has begun
    started = time.monotonic()
    assert recorder.close(timeout=5)
    assert time.monotonic() - started < 2
    assert batches == [["held@tocsin-recorder"]]


def test_a_run_waits_for_room_when_the_recorder_is_that_far_behind():
    recorder, _ = _recorder(pending=1)
    recorder.start()
    gate, taken = threading.Event(), threading.Event()
    recorder.submit(lambda: (taken.set(), gate.wait()))  # being recorded
    assert taken.wait(5)
    recorder.submit(lambda: None)  # the one pending slot
    returned = threading.Event()
    threading.Thread(target=lambda: (recorder.submit(lambda: None), returned.set())).start()
    assert not returned.wait(0.2)  # no room: the third waits
    gate.set()
    assert returned.wait(5)
    assert recorder.close(timeout=5)


def test_a_failing_batch_does_not_stop_the_ones_after_it():
    recorder, batches = _recorder()
    recorder.start()
    taken = threading.Event()
    recorder.submit(lambda: (taken.set(), 1 / 0))
    assert taken.wait(5)  # its batch is being recorded: the next one is a batch of its own
    recorder.submit(lambda: "after")
    assert recorder.close(timeout=5)
    assert batches == [["after@tocsin-recorder"]]


def test_close_reports_a_record_that_outlasts_its_timeout():
    recorder, _ = _recorder()
    recorder.start()
    gate = threading.Event()
    recorder.submit(gate.wait)
    started = time.monotonic()
    assert recorder.close(timeout=0.2) is False
    assert time.monotonic() - started < 2
    gate.set()
