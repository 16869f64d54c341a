"""The worker's outcome recorder (tasks.recorder): in order, bounded, drained at close."""

from __future__ import annotations

import threading
import time

from tasks.recorder import Recorder


def test_records_inline_until_started():
    done: list[str] = []
    Recorder().submit(lambda: done.append(threading.current_thread().name))
    assert done == [threading.current_thread().name]


def test_records_in_order_off_the_callers_thread_and_close_drains_them():
    recorder, done = Recorder(pending=4), []
    recorder.start()
    gate = threading.Event()
    recorder.submit(gate.wait)  # held: what follows waits behind it
    for i in range(4):
        recorder.submit(lambda i=i: done.append((i, threading.current_thread().name)))
    assert done == []
    gate.set()
    assert recorder.close(timeout=5)
    assert [i for i, _ in done] == [0, 1, 2, 3]
    assert {name for _, name in done} == {"tocsin-recorder"}
    assert not recorder.running


def test_a_run_waits_for_room_when_the_recorder_is_that_far_behind():
    recorder = Recorder(pending=1)
    recorder.start()
    gate = threading.Event()
    recorder.submit(gate.wait)  # being recorded
    recorder.submit(lambda: None)  # the one pending slot
    returned = threading.Event()
    threading.Thread(target=lambda: (recorder.submit(lambda: None), returned.set())).start()
    assert not returned.wait(0.2)  # no room: the third waits
    gate.set()
    assert returned.wait(5)
    assert recorder.close(timeout=5)


def test_a_failing_record_does_not_stop_the_ones_after_it():
    recorder, done = Recorder(), []
    recorder.start()
    recorder.submit(lambda: 1 / 0)
    recorder.submit(lambda: done.append("after"))
    assert recorder.close(timeout=5)
    assert done == ["after"]


def test_close_reports_a_record_that_outlasts_its_timeout():
    recorder = Recorder()
    recorder.start()
    gate = threading.Event()
    recorder.submit(gate.wait)
    started = time.monotonic()
    assert recorder.close(timeout=0.2) is False
    assert time.monotonic() - started < 2
    gate.set()
