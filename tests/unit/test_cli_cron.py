"""`tocsin cron check`, run as the installed command."""

from __future__ import annotations

import json
import subprocess
import sys


def tocsin(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scheduler", *args], capture_output=True, text=True, env=env,
        timeout=60,
    )


def test_spring_forward_fire_at_three_local() -> None:
    out = tocsin("cron", "check", "30 2 * * *", "--tz", "Europe/Berlin",
                 "--after", "2026-03-28T12:00:00+01:00", "--count", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["valid"] is True
    assert [f["local"] for f in data["fires"]] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert data["fires"][0]["utc"] == "2026-03-29T01:00:00.000+00:00"


def test_table_output_shows_local_and_utc() -> None:
    out = tocsin("cron", "check", "30 2 * * *", "--tz", "Europe/Berlin",
                 "--after", "2026-03-28T12:00:00+01:00", "--count", "3")
    assert out.returncode == 0
    assert "2026-03-29T03:00:00+02:00" in out.stdout
    assert "2026-03-29T01:00:00.000+00:00" in out.stdout


def test_invalid_minute_exits_2_with_one_line() -> None:
    out = tocsin("cron", "check", "61 * * * *")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "minute field" in out.stderr
    assert "Traceback" not in out.stderr


def test_invalid_json_output() -> None:
    out = tocsin("cron", "check", "61 * * * *", "--json")
    assert out.returncode == 2
    assert json.loads(out.stdout) == {
        "valid": False, "error": "61 is out of range for the minute field (allowed 0-59)"}


def test_unknown_zone_and_bad_after() -> None:
    out = tocsin("cron", "check", "* * * * *", "--tz", "Nowhere/Land")
    assert out.returncode == 2 and "unknown timezone" in out.stderr
    out = tocsin("cron", "check", "* * * * *", "--after", "yesterday-ish")
    assert out.returncode == 2 and "--after" in out.stderr


def test_bad_setting_is_one_line() -> None:
    import os

    env = {**os.environ, "TOCSIN_LEASE_TTL": "abc"}
    out = tocsin("migrate", env=env)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "error: TOCSIN_LEASE_TTL='abc' is invalid: "
        "Input should be a valid number, unable to parse string as a number"
    )
