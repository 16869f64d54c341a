"""`tocsin jobs`, `tocsin jobs show` and `tocsin executions` on real data."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

from scheduler.store.models import Execution
from tests.helpers import ROOT, tocsin_env


def run(pg_url, *args):
    env = {**tocsin_env(pg_url, "memory://"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def seed(store):
    store.function("report")
    now = store.now()
    nxt = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    sid = store.schedule("report", cron="0 * * * *", at=nxt, timezone="Europe/Berlin",
                         paused=True, pause_note="db upgrade", skipped_missed=3)
    done = store.waiting("report")
    with store.session() as s, s.begin():
        row = s.get(Execution, done)
        row.status, row.schedule_id, row.scheduled_for = "completed", sid, nxt - timedelta(hours=1)
        row.trigger = "schedule"
    failed = store.waiting("report")
    with store.session() as s, s.begin():
        s.get(Execution, failed).status = "failed"
        s.get(Execution, failed).errors = "Traceback...\nRuntimeError: kaboom"
    return sid, nxt, done, failed


def test_jobs_json_and_table(pg_url, store):
    sid, nxt, _, _ = seed(store)
    out = run(pg_url, "jobs", "--json")
    assert out.returncode == 0, out.stderr
    [row] = json.loads(out.stdout)
    assert (row["id"], row["function"], row["cron"], row["timezone"]) == (
        sid, "report", "0 * * * *", "Europe/Berlin")
    assert row["paused"] is True and row["pause_note"] == "db upgrade"
    assert row["skipped"] == {"missed": 3, "paused": 0, "disabled": 0, "overlap": 0}
    assert (row["overlap"], row["jitter"]) == ("allow", 0)
    assert row["next_fire_utc"] == nxt.isoformat(timespec="milliseconds")
    assert row["next_fire_local"].endswith(("+01:00", "+02:00"))
    table = run(pg_url, "jobs")
    assert table.returncode == 0 and "report" in table.stdout and "db upgrade" in table.stdout


def test_tables_fit_80_columns_with_relative_times_and_wide_shows_iso(pg_url, store):
    """Default tables show "in 42m (14:00)" and "3m ago", not ISO times with milliseconds
    wrapping over four lines; --wide brings the full ISO times back."""
    seed(store)

    def show(*args, columns=80):
        env = {**tocsin_env(pg_url, "memory://"), "COLUMNS": str(columns)}
        out = subprocess.run([sys.executable, "-m", "scheduler", *args], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    jobs = show("jobs")
    assert "in " in jobs and ".000+00:00" not in jobs
    assert max(len(line) for line in jobs.splitlines()) <= 80
    assert ".000+00:00" in show("jobs", "--wide", columns=250)
    executions = show("executions")
    assert " ago" in executions and ".000+00:00" not in executions
    assert ".000+00:00" in show("executions", "--wide", columns=250)


def test_jobs_show(pg_url, store):
    sid, nxt, done, _ = seed(store)
    out = run(pg_url, "jobs", "show", sid, "--json", "--fires", "3", "--runs", "5")
    data = json.loads(out.stdout)
    assert [f["utc"] for f in data["next_fires"]] == [
        (nxt + timedelta(hours=h)).isoformat(timespec="milliseconds") for h in range(3)]
    assert [e["id"] for e in data["executions"]] == [done]
    assert data["last_skipped"]["missed"] is None and data["skipped"]["missed"] == 3
    table = run(pg_url, "jobs", "show", sid)
    assert "skips by reason" in table.stdout and "overlap" in table.stdout
    missing = run(pg_url, "jobs", "show", "nope")
    assert missing.returncode == 1 and missing.stderr.startswith("error: no schedule")


def test_jobs_backfill_dry_run_start_and_errors(pg_url, store):
    sid, nxt, _, _ = seed(store)
    start = (nxt - timedelta(hours=25)).isoformat()
    end = (nxt - timedelta(hours=1)).isoformat()
    dry = run(pg_url, "jobs", "backfill", sid, "--from", start, "--to", end, "--dry-run",
              "--json")
    assert dry.returncode == 0, dry.stderr
    shown = json.loads(dry.stdout)
    assert shown["total"] == 24 and shown["first_fires"][0] == (
        nxt - timedelta(hours=25)).isoformat(timespec="milliseconds")
    started = run(pg_url, "jobs", "backfill", sid, "--from", start, "--to", end,
                  "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    made = json.loads(started.stdout)
    status = json.loads(run(pg_url, "jobs", "backfill-status", made["id"], "--json").stdout)
    assert (status["total"], status["status"], status["created"]) == (24, "running", 0)
    ahead = run(pg_url, "jobs", "backfill", sid, "--from", start,
                "--to", (nxt + timedelta(hours=5)).isoformat())
    assert ahead.returncode == 2 and len(ahead.stderr.strip().splitlines()) == 1
    assert ahead.stderr.startswith("error: --to: The window must be in the past")


def test_executions_filters(pg_url, store):
    _, _, done, failed = seed(store)
    rows = json.loads(run(pg_url, "executions", "--json").stdout)
    assert [r["id"] for r in rows] == [failed, done]  # newest first
    rows = json.loads(run(pg_url, "executions", "--status", "failed", "--json").stdout)
    assert [r["id"] for r in rows] == [failed] and rows[0]["errors"] == "RuntimeError: kaboom"
    rows = json.loads(run(pg_url, "executions", "--trigger", "schedule", "--json").stdout)
    assert [r["id"] for r in rows] == [done]
    later = (store.now() + timedelta(minutes=1)).isoformat()
    assert json.loads(run(pg_url, "executions", "--since", later, "--json").stdout) == []
    table = run(pg_url, "executions", "-f", "report")
    assert "kaboom" in table.stdout and "completed" in table.stdout


def test_dead_letters_rerun_and_cancel_from_the_cli(pg_url, store):
    _, _, _, failed = seed(store)
    with store.session() as s, s.begin():
        s.get(Execution, failed).dead = True
    rows = json.loads(run(pg_url, "executions", "--dead", "--json").stdout)
    assert [(r["id"], r["dead"], r["attempt"]) for r in rows] == [(failed, True, 1)]
    again = run(pg_url, "executions", "rerun", failed, "--json")
    assert again.returncode == 0, again.stderr
    made = json.loads(again.stdout)
    assert (made["attempt"], made["retry_of"], made["status"]) == (2, failed, "waiting")
    row = store.get(Execution, made["id"])
    assert row.request_body == store.get(Execution, failed).request_body
    assert row.enqueued_at is None  # this broker lives in another process: the relay's
    cancelled = run(pg_url, "executions", "cancel", made["id"])
    assert cancelled.returncode == 0, cancelled.stderr
    row = store.get(Execution, made["id"])
    assert row.status == "failed" and row.errors.startswith("Cancelled by operator ")
    for args, says in ((("cancel", made["id"]), "only a waiting or processing one"),
                       (("rerun", "nosuchrun"), "no execution with id 'nosuchrun'")):
        out = run(pg_url, "executions", *args)
        assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert says in out.stderr
