"""The prefill backlog: what queued prompts add to the load, and which engines they keep from new ones."""

from __future__ import annotations

from collections.abc import Sequence

from planner_sdk import ReplicaCount, Role, WorkerLoad

from ..perf import PerfModel

__all__ = [
    "queued_prompt_tokens",
    "undrained_requests",
    "draining_requests",
    "overflow_tokens",
    "rise_overflow_tokens",
    "backlogged_engines",
]


def queued_prompt_tokens(workers: Sequence[WorkerLoad] | None) -> float:
    """Prompt tokens queued at the prefill engines."""
    return sum(w.queued_prefill_tokens or 0.0 for w in workers or () if w.role is Role.PREFILL)


def _engine_speed(perf: PerfModel) -> float:
    """Prompt tokens a second one prefill engine works through at its longest prompts."""
    return perf.prefill.engine_throughput(perf.prefill.max_isl)


def undrained_requests(
    perf: PerfModel, prefill: ReplicaCount | None, backlog: float, rate: float, isl: float, startup_s: float
) -> float:
    """Queued prompts the prefill engines serving or starting will not drain within a start-up."""
    if backlog <= 0 or prefill is None or isl <= 0:
        return 0.0
    capacity = _engine_speed(perf)
    spare = max(0.0, capacity * prefill.ready - rate * isl) * startup_s
    spare += capacity * max(0, prefill.expected - prefill.ready) * startup_s / 2  # starting engines, half the time
    return max(0.0, backlog - spare) / isl


def draining_requests(backlog: float, isl: float, interval_s: float, startup_s: float) -> float:
    """Requests per interval the engines serving drain of `backlog` until new ones could start:
    load for both pools (prefill drains it into decode), and what keeps the engines counted on to
    drain it from being shed while it lasts (shed, the rest could not, and the backlog would
    outlive the start-up of any engine asked for once that is seen)."""
    if backlog <= 0 or isl <= 0:
        return 0.0
    return backlog / isl * interval_s / max(startup_s, interval_s)


def overflow_tokens(perf: PerfModel, prefill: ReplicaCount | None, tokens_per_s: float, startup_s: float) -> float:
    """Prompt tokens the engines serving now fall behind by within a start-up, at `tokens_per_s`."""
    serving = _engine_speed(perf) * (prefill.ready if prefill else 0)
    return max(0.0, tokens_per_s - serving) * startup_s


def rise_overflow_tokens(
    perf: PerfModel, prefill: ReplicaCount | None, rate: float, rising: float, isl: float, startup_s: float
) -> float:
    """Prompt tokens the engines serving now fall further behind by within a start-up as the load
    rises from `rate` to `rising` requests a second, beyond what they fall behind by at `rate`.
    That much is left out: engines asked for it (by the surge guard, between decisions) already
    count as starting. Counted again, periodic 10 min tight cost 1.28 -> 1.34 x the oracle at the
    same SLA."""
    now = overflow_tokens(perf, prefill, rate * isl, startup_s)
    return max(0.0, overflow_tokens(perf, prefill, rising * isl, startup_s) - now)


def backlogged_engines(perf: PerfModel, workers: Sequence[WorkerLoad] | None, ttft_ms: float) -> int:
    """Prefill engines whose queue takes longer than the TTFT target to work off."""
    most = _engine_speed(perf) * ttft_ms / 1000.0
    return sum(1 for w in workers or () if w.role is Role.PREFILL and (w.queued_prefill_tokens or 0.0) > most)
