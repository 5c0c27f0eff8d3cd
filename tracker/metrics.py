"""Prometheus metrics at ``/metrics``: requests, verdicts, bad tokens, group sizes, commit
latency, spool depth, cache sizes and hit rates, and the worker's memory, CPU and garbage
collections.

prometheus-client does the exposition format; each app has a registry of its own, so
that tests can build many apps in one process. With ``tracker serve --workers N`` every
worker has its own figures: run one worker per container and scale by replicas.
"""

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["Metrics", "Tallies", "serve_metrics"]


class Tallies(Collector):
    """The per-request counters, as plain integers read when ``/metrics`` is scraped: a
    prometheus-client ``Counter`` takes a lock on every increment, twice per request."""

    def __init__(self) -> None:
        self.requests = dict.fromkeys(("open", "click"), 0)
        self.verdicts = dict.fromkeys(("human", "proxy", "machine"), 0)

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "tracker_requests", "Pixel and link requests with a genuine token", labels=["kind"]
        )
        for kind, count in self.requests.items():
            requests.add_metric([kind], count)
        verdicts = CounterMetricFamily(
            "tracker_verdicts", "Recorded requests by verdict", labels=["verdict"]
        )
        for verdict, count in self.verdicts.items():
            verdicts.add_metric([verdict], count)
        yield requests
        yield verdicts


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tallies = Tallies()
        self.registry.register(self.tallies)
        # The worker's memory and CPU (process_*) and its garbage collections (python_gc_*).
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.bad_tokens = Counter(
            "tracker_bad_tokens",
            "Requests with a forged, altered or malformed token",
            registry=self.registry,
        )
        self.group_size = Histogram(
            "tracker_group_size",
            "Hits committed per group",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "tracker_commit_seconds",
            "Time to commit one group",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=self.registry,
        )
        self.spooled = Counter(
            "tracker_spooled_groups", "Groups written to the local spool", registry=self.registry
        )

    def gauge(self, name: str, text: str, read: Callable[[], float]) -> None:
        Gauge(name, text, registry=self.registry).set_function(read)


async def serve_metrics(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
