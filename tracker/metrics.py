"""Prometheus metrics at ``/metrics``: requests, verdicts, bad tokens, group sizes, commit
latency, spool depth, cache sizes and hit rates, and the worker's memory, CPU and garbage
collections.

prometheus-client does the exposition format; each app has a registry of its own, so
that tests can build many apps in one process. With ``tracker serve --workers N`` every
worker has its own figures: run one worker per container and scale by replicas.
"""

import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

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
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
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


class GcPauses(Collector):
    """How long the garbage collector paused the process, per collection and generation:
    every request in the process waits meanwhile, so long pauses show in tail latency."""

    BOUNDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1)

    def __init__(self) -> None:
        self._started = 0.0
        # Per generation: the count of pauses up to each bound (and in all), their sum.
        self._counts = [[0] * (len(self.BOUNDS) + 1) for _ in range(3)]
        self._sums = [0.0] * 3

    def __call__(self, phase: str, info: dict[str, Any]) -> None:  # a gc.callbacks entry
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = info["generation"]
        counts = self._counts[generation]
        for index, bound in enumerate(self.BOUNDS):
            if pause <= bound:
                counts[index] += 1
        counts[-1] += 1
        self._sums[generation] += pause

    def collect(self) -> Iterator[Metric]:
        pauses = HistogramMetricFamily(
            "tracker_gc_pause_seconds",
            "Garbage collector pauses, by generation",
            labels=["generation"],
        )
        for generation, counts in enumerate(self._counts):
            buckets = [
                (str(bound), count) for bound, count in zip(self.BOUNDS, counts, strict=False)
            ]
            pauses.add_metric(
                [str(generation)], [*buckets, ("+Inf", counts[-1])], self._sums[generation]
            )
        yield pauses


# One per process, as the collector is.
GC_PAUSES = GcPauses()
gc.callbacks.append(GC_PAUSES)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.tallies = Tallies()
        self.registry.register(self.tallies)
        # The worker's memory and CPU (process_*) and its garbage collections (python_gc_*).
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.registry.register(GC_PAUSES)
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
