"""Structured logs: a stable event name and fields, as text or one JSON object a line."""

from __future__ import annotations

import json
import logging

import pytest

from scheduler.logs import get_logger, setup_logging


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield
    root.handlers[:], root.level = saved[0], saved[1]


def test_json_lines(capsys, restore_root) -> None:
    setup_logging("INFO", "json")
    get_logger("tocsin.test").info("fire.dispatched", schedule_id="s1", lag_ms=12.5)
    line = capsys.readouterr().err.strip()
    data = json.loads(line)
    assert data["event"] == "fire.dispatched" and data["level"] == "info"
    assert data["schedule_id"] == "s1" and data["lag_ms"] == 12.5
    assert data["ts"].endswith("+00:00")


def test_text_lines(capsys, restore_root) -> None:
    setup_logging("INFO", "text")
    log = get_logger("tocsin.test")
    log.info("lease.acquired", node="n1", epoch=3)
    log.debug("hidden.event")
    err = capsys.readouterr().err
    assert "lease.acquired node=n1 epoch=3" in err
    assert "hidden.event" not in err
