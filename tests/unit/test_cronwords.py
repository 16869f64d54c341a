"""Cron expressions in words (the console and job tables)."""

from __future__ import annotations

import pytest

from scheduler.rules.cronwords import describe


@pytest.mark.parametrize(("expression", "words"), [
    ("* * * * *", "every minute"),
    ("*/15 * * * *", "every 15 minutes"),
    ("*/1 * * * *", "every minute"),
    ("*/60 * * * *", "every hour"),
    ("7 * * * *", "every hour at minute 7"),
    ("5 */6 * * *", "every 6 hours at minute 5"),
    ("0 3 * * *", "every day at 03:00"),
    ("30 9 * * 1-5", "every Monday to Friday at 09:30"),
    ("0 18 * * sun,3", "every Sunday, Wednesday at 18:00"),
    ("0 0 1 * *", "on day 1 of every month at 00:00"),
    ("15 12 25 12 *", "every year on December 25 at 12:15"),
    ("@every 60m+17m", "every hour, at minute 17 of each interval"),
    ("@every 90m+0m", "every 90 minutes, at minute 0 of each interval"),
    ("@every 2880m+5m", "every 2 days, at minute 5 of each interval"),
    ("0-10/2 1,2 * 3 *", "minute 0-10/2, hour 1,2, day *, month 3, weekday *"),
    ("0 9 * * mon-xyz", "minute 0, hour 9, day *, month *, weekday mon-xyz"),
])
def test_common_shapes_read_as_words(expression, words):
    assert describe(expression) == words
