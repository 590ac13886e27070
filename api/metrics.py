"""Prometheus metrics of one API process: requests and latency per route, trip reports by verdict, and the
settlement progress read from the ledger at each scrape.

Each app has its own registry (several apps in one process, as in tests, do not collide). With several
workers each reports its own counters; scrape each worker, or aggregate in Prometheus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ledger.epochs import PUBLISHED_STATES
from ledger.store.models import Epoch, EpochState

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

log = logging.getLogger("yuanshi.api")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _SettlementCollector(Collector):
    """Latest epoch per settlement stage, read when scraped (so every worker reports the same)."""

    def __init__(self, sessions: Callable[[], sessionmaker[Session] | None]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterable[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "yuanshi_settlement_epoch",
            "Highest epoch number that reached each settlement stage",
            labels=["stage"],
        )
        sessions = self._sessions()
        if sessions is None:
            return [gauge]
        stages = {
            "created": tuple(EpochState),
            "posted": PUBLISHED_STATES,
            "final": (EpochState.FINAL,),
        }
        try:
            with sessions() as session:
                for stage, states in stages.items():
                    latest = session.scalar(select(func.max(Epoch.number)).where(Epoch.state.in_(states)))
                    gauge.add_metric([stage], -1 if latest is None else float(latest))
        except Exception:  # a scrape must never fail because the database is briefly away
            log.exception("settlement metrics unavailable")
        return [gauge]


class Metrics:
    def __init__(self, sessions: Callable[[], sessionmaker[Session] | None]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "yuanshi_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "yuanshi_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reports = Counter(
            "yuanshi_trip_reports",
            "Trip reports answered, by verdict status and reason",
            ["status", "reason"],
            registry=self.registry,
        )
        self.registry.register(_SettlementCollector(sessions))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
