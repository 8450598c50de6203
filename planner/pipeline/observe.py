"""OBSERVE: merge what the observe plugins saw, field by field, by ascending priority."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from planner_sdk import Observations, TrafficObservation, WorkerLoad

__all__ = ["merge_observations"]


def merge_observations(results: Sequence[Observations]) -> Observations:
    """First writer wins per traffic field and per worker id; `results` come in priority order."""
    traffic: TrafficObservation | None = None
    workers: dict[str, WorkerLoad] | None = None
    for obs in results:
        if obs.traffic is not None:
            traffic = obs.traffic if traffic is None else _fill_unset(traffic, obs.traffic)
        if obs.workers is not None:
            workers = {} if workers is None else workers
            for worker in obs.workers:
                workers.setdefault(worker.worker_id, worker)
    return Observations(traffic=traffic, workers=None if workers is None else tuple(workers.values()))


def _fill_unset(first: TrafficObservation, later: TrafficObservation) -> TrafficObservation:
    updates = {
        f.name: getattr(later, f.name)
        for f in dataclasses.fields(first)
        if getattr(first, f.name) is None and getattr(later, f.name) is not None
    }
    return dataclasses.replace(first, **updates) if updates else first
