"""The API's Prometheus metrics (``/v1/metrics``), in a registry of their own.

Per endpoint: requests by status and a latency histogram, measured around the whole
request (auth and body checks included). The service's own counters (events applied and
rejected, items added, refreshes, store errors) and whether the store answers are read
from it at each scrape.
"""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kgrec.app.service import RecommendationService

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _ServiceCollector(Collector):
    def __init__(self, service: RecommendationService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        stats = self.service.stats
        for name, value, text in (
            ("kgrec_events_applied", stats.events_applied, "Events written to the store and applied to the model"),
            ("kgrec_events_rejected", stats.events_rejected, "Events rejected (invalid, or their item gone)"),
            ("kgrec_items_added", stats.items_added, "Items added through the API"),
            ("kgrec_refreshes", stats.refreshes, "Whole refreshes of the served model from the store"),
            ("kgrec_store_errors", stats.store_errors, "Store calls that failed or timed out"),
        ):
            yield CounterMetricFamily(name, text, value=value)
        state = self.service.state
        yield GaugeMetricFamily("kgrec_store_up", "1 while the graph store answers, 0 while it is known down",
                                value=1.0 if self.service.store.available else 0.0)
        yield GaugeMetricFamily("kgrec_items", "Items served", value=len(state.item_ids))
        yield GaugeMetricFamily("kgrec_users", "Users known", value=len(state.user_ids))
        yield GaugeMetricFamily("kgrec_changes_since_refresh", "Events and items applied since the last whole refresh",
                                value=state.changes)


class ApiMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, service: RecommendationService) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("kgrec_http_requests", "HTTP API requests", ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("kgrec_http_request_seconds", "HTTP API request latency", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_ServiceCollector(service))

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
