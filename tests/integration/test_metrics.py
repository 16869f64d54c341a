"""Prometheus series from the scheduler (--metrics-port) and the API, and the probes."""

from __future__ import annotations

import sys
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from scheduler.api.app import create_app
from scheduler.broker.publish import RedisPublisher
from scheduler.config import Settings
from scheduler.store.models import Execution
from scheduler.store.schedules import notify_wakeup
from tests.helpers import Proc, leader, tocsin_env, wait_for
from tests.integration.test_sdk import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_scheduler_metrics_after_a_dispatch(pg_url, broker_url, store, tmp_path):
    store.function()
    port = free_port()
    env = tocsin_env(pg_url, broker_url, TOCSIN_LEASE_TTL="2")
    proc = Proc([sys.executable, "-m", "scheduler", "scheduler", "--metrics-port", str(port)],
                env, tmp_path / "s.log")
    try:
        wait_for(lambda: leader(store), 15, what="a leader")
        eid = store.oneshot(at=store.now() + timedelta(seconds=1))
        # A yearly cron placed a second ahead: exactly one fire is due.
        store.schedule(cron="0 0 1 1 *", at=store.now() + timedelta(seconds=1))
        with store.session() as s, s.begin():
            notify_wakeup(s)  # as the API does after writing
        wait_for(lambda: store.get(Execution, eid).status == "waiting", 15, what="dispatch")
        wait_for(lambda: len(store.executions()) == 2, 15, what="the cron fire")

        def scraped():
            try:
                got = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            except httpx.HTTPError:
                return None
            return got if got.get(("tocsin_fires_total", (("outcome", "fired"),))) else None

        got = wait_for(scraped, 10, what="metrics after the dispatch")
        assert got[("tocsin_fires_total", (("outcome", "oneshot"),))] == 1
        assert got[("tocsin_fires_total", (("outcome", "fired"),))] == 1
        assert got[("tocsin_dispatch_lag_seconds_count", ())] == 2
        assert got[("tocsin_leader", ())] == 1
        assert got[("tocsin_lease_epoch", ())] >= 1
        assert ("tocsin_unpublished_backlog", ()) in got
    finally:
        proc.stop()


def test_api_metrics_and_probes(pg_url, broker_url, store):
    store.function()
    store.waiting()
    store.oneshot(at=store.now() + timedelta(hours=1))
    settings = Settings(database_url=pg_url, broker_url=broker_url)
    with TestClient(create_app(settings, publisher=RedisPublisher(broker_url))) as client:
        assert client.get("/healthz").json() == {"status": "pass"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": "pass", "broker": "pass"}
        got = samples(client.get("/metrics").text)
        assert got[("tocsin_executions", (("status", "waiting"),))] == 1
        assert got[("tocsin_executions", (("status", "scheduled"),))] == 1
        assert got[("tocsin_unpublished_backlog", ())] == 1
    dead = create_app(settings, publisher=RedisPublisher("redis://127.0.0.1:1/0"))
    with TestClient(dead) as client:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["database"] == "pass"
        assert r.json()["checks"]["broker"].startswith("fail")
