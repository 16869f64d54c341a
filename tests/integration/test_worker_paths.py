"""The worker's fast path (``store.worker_statements``) against its reference path
(``store.executions.claim``/``finish`` through the ORM), with real worker processes on
the real PostgreSQL and Redis.

The same runs go through a worker with the fast path and one without it; every column
of every row (ids and times aside), and the events recorded, must be the same. The
runs cover what the fast path takes (a plain run, with variables; a failing one) and
what it must hand to the reference path (a function with scopes, a subscribed
``update`` event, a user's token, a disabled function, a schedule's run)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from scheduler.broker.publish import RedisPublisher
from scheduler.rules.ids import new_id
from scheduler.store.db import transaction
from scheduler.store.events import set_subscriptions
from scheduler.store.models import Event, Execution, Function, Variable
from tests.helpers import start_worker, tocsin_env, wait_for

IGNORED = {"id", "created_at", "updated_at", "started_at", "finished_at", "deadline_at",
           "enqueued_at", "duration", "schedule_id", "function_id"}


def _functions(store: Any, suffix: str) -> dict[str, str]:
    """One function per case, named by case and by which worker runs it."""
    made = {
        "plain": store.function(f"plain{suffix}"),
        "failing": store.function(f"failing{suffix}",
                                  entrypoint="tests.fixtures.functions:boom"),
        "scoped": store.function(f"scoped{suffix}", scopes=["executions.read"]),
        "subscribed": store.function(f"subscribed{suffix}"),
        "disabled": store.function(f"disabled{suffix}", enabled=False),
        "token": store.function(f"token{suffix}"),
        "scheduled": store.function(f"scheduled{suffix}"),
    }
    with transaction(store.sessions) as s:
        s.add(Variable(project_id="p1", id=new_id(), function_id=made["plain"], key="GREETING",
                       value="hi"))
        # A listener elsewhere in the project hears the subscribed function's runs end.
        listener = Function(project_id="p1", id=f"listener{suffix}", name="l",
                            runtime="python-3.12", entrypoint="tests.fixtures.functions:hello",
                            execute=[], events=[
                                f"functions.{made['subscribed']}.executions.*.update"])
        s.add(listener)
        s.flush()
        set_subscriptions(s, listener)
    return made


def _runs(store: Any, made: dict[str, str]) -> dict[str, str]:
    runs = {case: store.waiting(fid) for case, fid in made.items()}
    far = store.now().replace(year=2100)
    schedule_id = store.schedule(made["scheduled"], at=far)
    with transaction(store.sessions) as s:
        token = s.get(Execution, runs["token"])
        token.request_headers = {"x-custom": "1", "x-appwrite-user-jwt": "jwt.of.user"}
        sched = s.get(Execution, runs["scheduled"])
        sched.trigger = "schedule"
        sched.schedule_id = schedule_id
    return runs


def _through(pg_url: str, broker_url: str, tmp_path: Any, store: Any, suffix: str,
             fast: bool) -> tuple[dict[str, Execution], int, str]:
    made = _functions(store, suffix)
    runs = _runs(store, made)
    env = tocsin_env(pg_url, broker_url, TOCSIN_WORKER_FAST_PATH=str(fast).lower())
    worker = start_worker(env, f"w{suffix}", tmp_path)
    try:
        wait_for(lambda: " ready." in worker.output(), 30, what="the worker")
        RedisPublisher(broker_url).publish(list(runs.values()))
        wait_for(lambda: all(store.get(Execution, e).finished_at for e in runs.values()), 60,
                 what="every run to end")
    finally:
        worker.stop()
    with transaction(store.sessions) as s:
        events = s.execute(select(Event).where(Event.name.like(
            f"functions.{made['subscribed']}.executions.%.update"))).scalars().all()
    rows = {case: store.get(Execution, eid) for case, eid in runs.items()}
    return rows, len(events), (tmp_path / f"w{suffix}.log").read_text()


def _columns(row: Execution) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in Execution.__table__.columns
            if c.name not in IGNORED}


def test_both_paths_record_the_same_rows_and_events(pg_url, broker_url, tmp_path, store):
    fast_rows, fast_events, fast_log = _through(pg_url, broker_url, tmp_path, store, "a", True)
    ref_rows, ref_events, ref_log = _through(pg_url, broker_url, tmp_path, store, "b", False)
    for case in fast_rows:
        assert _columns(fast_rows[case]) == _columns(ref_rows[case]), case
    assert fast_rows["plain"].status == "completed" and fast_rows["failing"].status == "failed"
    assert "x-appwrite-user-jwt" not in fast_rows["token"].request_headers
    assert fast_rows["disabled"].status == "failed"
    assert (fast_events, ref_events) == (1, 1)  # the subscribed run's end, once each
    # The fast worker took the common cases itself, and handed the rest over.
    assert fast_log.count("path=fast/fast") == 2  # plain, failing
    assert fast_log.count("path=fast/reference") == 2  # subscribed, scheduled
    assert fast_log.count("path=reference/reference") == 2  # scoped, token
    assert ref_log.count("path=reference/reference") == 6
