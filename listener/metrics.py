"""The listener's Prometheus metrics, in a registry of its own (never the global default one).

Queue figures are sampled by the service; pushes are counted from the engine's outcomes;
Brevo latency is fed by the client's `on_response`; rate-limit waits and client retries are
read from the limiter's and client's own counters at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from brevo_sync.brevo import BrevoAccountError, BrevoClient
from brevo_sync.brevo.limiter import GROUPS
from brevo_sync.outcome import Outcome

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Brevo answers in 100-300 ms when healthy; the emulator in a few ms.
# Both groups are exported from the start, so a rate() over them never sees a series appear.
ZERO_BY_GROUP: dict[str, float] = dict.fromkeys(GROUPS, 0.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ClientCollector(Collector):
    """Counters the Brevo client and its limiter keep themselves, read when scraped."""

    def __init__(self, client: BrevoClient) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        stats = self.client.limiter.stats
        yield _by_label(
            "brevo_sync_rate_limit_waits",
            "Brevo calls held back by the limiter",
            "group",
            {**ZERO_BY_GROUP, **stats.waits_by_group},
        )
        yield _by_label(
            "brevo_sync_rate_limit_wait_seconds",
            "Seconds Brevo calls spent held back by the limiter",
            "group",
            {**ZERO_BY_GROUP, **stats.wait_seconds_by_group},
        )
        yield _by_label(
            "brevo_sync_brevo_retries",
            "Brevo calls retried, by reason",
            "reason",
            self.client.stats.retries_by_reason,
        )


def _by_label(name: str, doc: str, label: str, values: Mapping[str, float]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


class ListenerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_pending = Gauge(
            "brevo_sync_queue_pending", "Customers waiting in the queue", registry=r
        )
        self.queue_ready = Gauge(
            "brevo_sync_queue_ready", "Queued customers ready to push now", registry=r
        )
        self.oldest_pending_age = Gauge(
            "brevo_sync_queue_oldest_pending_age_seconds",
            "Age of the oldest queued change",
            registry=r,
        )
        self.pushes = Counter(
            "brevo_sync_pushes", "Pushes by action and outcome", ["action", "outcome"], registry=r
        )
        self.push_seconds = Histogram(
            "brevo_sync_push_seconds",
            "Time to push one customer, Brevo calls included",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.brevo_latency = Histogram(
            "brevo_sync_brevo_request_seconds",
            "Brevo API call latency",
            ["group"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.brevo_responses = Counter(
            "brevo_sync_brevo_responses",
            "Brevo API answers by status class",
            ["group", "status"],
            registry=r,
        )
        self.reconnects = Counter(
            "brevo_sync_listener_reconnects",
            "Times the listener connected again after losing the database",
            registry=r,
        )
        self.connected = Gauge(
            "brevo_sync_listener_connected", "1 while the LISTEN connection is up", registry=r
        )
        self.paused = Gauge(
            "brevo_sync_brevo_account_paused",
            "HTTP status (401, 402, 403) while Brevo refuses the account and pushing is"
            " paused; 0 while pushing",
            registry=r,
        )

    def watch_client(self, client: BrevoClient) -> None:
        self.registry.register(ClientCollector(client))

    def observe_response(self, group: str, status: int, seconds: float) -> None:
        self.brevo_latency.labels(group).observe(seconds)
        self.brevo_responses.labels(group, f"{status // 100}xx").inc()

    def observe_outcome(self, outcome: Outcome) -> None:
        self.pushes.labels(outcome.action, outcome.result).inc()
        self.push_seconds.observe(outcome.ms / 1000)

    def observe_pause(self, refusal: BrevoAccountError | None) -> None:
        self.paused.set(0 if refusal is None else refusal.status)

    def observe_depth(self, row: Mapping[str, Any]) -> None:
        self.queue_pending.set(row["pending"] or 0)
        self.queue_ready.set(row["ready"] or 0)
        self.oldest_pending_age.set(row["oldest_age_seconds"] or 0.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
