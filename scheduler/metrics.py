"""Prometheus series shared by the scheduler and the API."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

FIRES = Counter("tocsin_fires_total", "Fires handled by the dispatcher", ["outcome"])
DISPATCH_LAG = Histogram(
    "tocsin_dispatch_lag_seconds", "Due time to commit of the execution row",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PUBLISH_FAILURES = Counter("tocsin_publish_failures_total", "Broker publish attempts that failed")
IS_LEADER = Gauge("tocsin_leader", "1 while this process holds the lease")
EPOCH = Gauge("tocsin_lease_epoch", "Epoch of the lease this process last saw")
BACKLOG = Gauge("tocsin_unpublished_backlog", "Executions committed but not yet published")
EXECUTIONS = Gauge("tocsin_executions", "Executions by status", ["status"])
REAPED = Counter("tocsin_reaped_total", "Executions failed because their worker was lost")
EVENTS = Counter("tocsin_events_total", "Events fanned out by the leader", ["source"])
EVENTS_STOPPED = Counter("tocsin_events_stopped_total",
                         "Events not fanned out: their chain reached TOCSIN_EVENT_MAX_DEPTH")
API_PATHS = Counter("tocsin_api_requests_total",
                    "Execution creates (async) and reads the API served, by path taken "
                    "(fast, reference)", ["route", "path"])


class DeadLetters(Collector):
    """``tocsin_dead_letters_total{project,function}``: runs that used up their retries
    (``store.retries``). Counted durably in the store (``functions.dead_letters``, in
    the transaction that marks each one), so every API process reports the same
    counter; ``set`` gives it the store's values at each scrape."""

    def __init__(self) -> None:
        self.counts: list[tuple[str, str, int]] = []

    def set(self, counts: list[tuple[str, str, int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily("tocsin_dead_letters", "Executions that failed with no "
                                     "retry left (dead letters)", labels=["project", "function"])
        for project, function, count in self.counts:
            family.add_metric([project, function], count)
        yield family


DEAD_LETTERS = DeadLetters()
REGISTRY.register(DEAD_LETTERS)
