"""Observing: per-worker load from the engines' own Prometheus metrics."""

from __future__ import annotations

from .worker_metrics import HistogramTotals, WorkerEndpoint, WorkerMetricsObserve, parse_worker_metrics

__all__ = ["HistogramTotals", "WorkerEndpoint", "WorkerMetricsObserve", "parse_worker_metrics"]
