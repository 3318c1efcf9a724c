"""Prometheus metrics: requests and latency by endpoint and status, store sizes, model version."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from serving.runtime.state import Services
from serving.runtime.traffic import RecentTraffic

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Every label value comes from a fixed set: a label taken from the request as sent would let
# any client add series (each with a histogram) until the worker's memory runs out.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class Metrics:
    """One registry per app (tests build many apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "discerner_http_requests",
            "HTTP requests answered.",
            ("method", "endpoint", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "discerner_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ("method", "endpoint", "status"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        ProcessCollector(registry=self.registry)  # memory, CPU and open files of the server
        self.recent = RecentTraffic(_BUCKETS)  # the last minutes, for the admin page

    def watch(self, services: Callable[[], Services]) -> None:
        """Report store sizes and the model version, read when scraped."""
        self.registry.register(_StateCollector(services))

    def observe(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        """Count one answered request.

        Args:
            method: The request's method; any but the standard ones is counted as `other`.
            endpoint: The matched route's name (never the raw path), or `unmatched`.
            status: The response's status code.
            seconds: The time taken to answer.
        """
        labels = (method if method in METHODS else OTHER, endpoint, status_label(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
        self.recent.observe(labels[0], endpoint, status, seconds)

    def response(self) -> Response:
        """The text exposition format."""
        # content_type, not mimetype: Flask would append a second `charset=utf-8` to it.
        return Response(generate_latest(self.registry), content_type=CONTENT_TYPE_LATEST)


def status_label(status: int) -> str:
    """The status code as a label: `200`, or `other` outside 100-599."""
    return str(status) if 100 <= status <= 599 else OTHER


class _StateCollector:
    def __init__(self, services: Callable[[], Services]):
        self.services = services

    def collect(self) -> Iterator[Metric]:
        current = self.services()
        sizes = GaugeMetricFamily("discerner_store_rows", "Rows in the store.", labels=["table"])
        sizes.add_metric(["users"], current.store.count_users())
        sizes.add_metric(["products"], current.store.count_products())
        sizes.add_metric(["activities"], current.store.count_activities())
        yield sizes
        model = GaugeMetricFamily(
            "discerner_model_info", "The model being served (value 1).", labels=["version"]
        )
        model.add_metric([current.models.status()["version"]], 1)
        yield model


def instrument(app: Flask, metrics: Metrics) -> None:
    """Time every request; label it by endpoint (the route's name, never the raw path)."""

    @app.before_request
    def _start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        started = g.pop("started", None)
        if started is not None:
            endpoint = request.endpoint or "unmatched"
            seconds = time.perf_counter() - started
            metrics.observe(request.method, endpoint, response.status_code, seconds)
        return response
