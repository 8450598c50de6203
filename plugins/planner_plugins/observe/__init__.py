"""Observing: frontend traffic from Prometheus, per-worker load from the engines' own metrics."""

from __future__ import annotations

from .prometheus_traffic import PrometheusQueryError, PrometheusSettings, PrometheusTraffic, traffic_queries
from .worker_metrics import HistogramTotals, WorkerEndpoint, WorkerMetricsObserve, in_flight, parse_worker_metrics

__all__ = [
    "HistogramTotals",
    "PrometheusQueryError",
    "PrometheusSettings",
    "PrometheusTraffic",
    "WorkerEndpoint",
    "WorkerMetricsObserve",
    "parse_worker_metrics",
    "in_flight",
    "traffic_queries",
]
