"""Unit tests run each rule from scratch, in a local zone far from UTC.

* The memoised rules (parsed crons, next fires, policy decisions, fire counts) start
  empty for each test: a result cached by an earlier test can neither hide a change in
  the rule nor make a test depend on the order tests run in.
* The process's local zone is Asia/Kathmandu (+05:45) during each test: Tocsin's time
  rules must never depend on the machine's zone, and a stray ``astimezone()`` (local
  time) then gives a different answer instead of passing by accident on a UTC machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from scheduler.rules import firecount, policies, timerules

_MEMOISED = (timerules._parse_cron, timerules._next_fire_cached, policies.decide,
             firecount._fields, firecount._next_matching_day)


@pytest.fixture(autouse=True)
def fresh_rules_in_a_far_zone() -> Iterator[None]:
    for cached in _MEMOISED:
        cached.cache_clear()
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kathmandu"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()
