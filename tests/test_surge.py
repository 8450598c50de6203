"""Between throughput decisions, a surge the last one did not plan for is asked for at once, and only a surge."""

from __future__ import annotations

import dataclasses

from planner.config import PlannerConfig
from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.signals import FrontendWindow
from planner.sim.world import load_perf
from planner_plugins.propose import SizingSettings, SurgePropose, ThroughputPropose
from planner_plugins.traces import poisson_trace
from planner_sdk import (
    Bound,
    Observations,
    PlannerView,
    Predictions,
    ProposeResult,
    ReplicaCount,
    Role,
    TickContext,
    TrafficObservation,
    WorkerLoad,
)

P, D = Role.PREFILL, Role.DECODE
PERF = load_perf(PlannerConfig())
LOW = 300.0  # requests a minute of 8k-token prompts: two prefill engines serve them
FOURFOLD = 4 * LOW / 6  # requests in 10 s of a fourfold step


def view() -> PlannerView:
    return PlannerView("disagg", (P, D), "sla", 1000, 20, -1, {P: 1, D: 1}, {P: 1, D: 1}, {})


def loop(stabilization_s: float | None = None) -> tuple[ThroughputPropose, SurgePropose]:
    settings = SizingSettings(
        interval_s=60, ttft_ms=1000, itl_ms=20, min_endpoint={P: 1, D: 1}, startup_s=120,
        scale_down_stabilization_s=stabilization_s,
    )  # fmt: skip
    throughput = ThroughputPropose(PERF, settings, (P, D), floor=False)
    return throughput, SurgePropose(throughput, 10.0)


def context(
    now: float,
    traffic: TrafficObservation,
    prefill: int,
    queued: float = 0.0,
    decode: int = 1,
    step_ms: float | None = None,
    **kw: object,
) -> TickContext:
    workers = tuple(WorkerLoad(f"p{i}", P, queued_prefill_tokens=queued / prefill) for i in range(prefill))
    workers += tuple(WorkerLoad(f"d{i}", D, recent_itl_ms=step_ms) for i in range(decode))
    return TickContext(
        tick_id=1, decision_id=1, now=now, planner=view(),
        replicas={P: ReplicaCount(prefill, prefill), D: ReplicaCount(decode, decode)},
        observations=Observations(traffic=traffic, workers=workers), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def decide(throughput: ThroughputPropose, now: float, count: float = LOW, dispersion: float = 1.0) -> dict[Role, int]:
    """A throughput decision on a minute of `count` requests, forecast to stay."""
    traffic = TrafficObservation(60.0, count, 8000, 200, arrival_dispersion=dispersion)
    predictions = Predictions(count, 8000, 200, num_requests_ahead=(count,) * 3)
    result = throughput.propose(context(now, traffic, 2, predictions=predictions))
    return {t.role: t.replicas for t in result.targets}


def check(
    surge: SurgePropose,
    now: float,
    recent: float,
    prefill: int = 1,
    queued: float = 0.0,
    decode: int = 1,
    step_ms: float | None = None,
) -> ProposeResult:
    """A surge check that saw `recent` requests over the last 10 s, the fleet still as it was before the
    last decision (one prefill engine)."""
    traffic = TrafficObservation(60.0, LOW, 8000, 200, recent_window_seconds=10.0, recent_num_requests=recent)
    return surge.propose(context(now, traffic, prefill, queued, decode, step_ms))


def asked(result: ProposeResult) -> dict[Role, int]:
    assert all(t.bound is Bound.AT_LEAST for t in result.targets)
    return {t.role: t.replicas for t in result.targets}


def test_a_step_far_beyond_the_plan_is_asked_for_at_the_first_check_after_it() -> None:
    throughput, surge = loop()
    fleet = decide(throughput, 60.0)
    step = asked(check(surge, 70.0, FOURFOLD))
    assert step[P] > fleet[P] + 1
    assert step[D] >= fleet[D]


def test_poisson_noise_around_the_plan_asks_for_nothing() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    for second, recent in ((70.0, 62.0), (80.0, 64.0), (90.0, 60.0)):
        assert not check(surge, second, recent).targets


def test_a_count_moderately_above_the_plan_is_a_surge_only_when_the_next_one_is_too() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    planned = LOW * 1.25 / 6  # in 10 s, with the margin of forecasts that have no record yet
    moderate = planned + 4.5 * planned**0.5  # between three and six deviations above it
    assert not check(surge, 70.0, moderate).targets
    assert not check(surge, 80.0, planned).targets  # it fell back: a fluke
    assert not check(surge, 90.0, moderate).targets
    assert asked(check(surge, 100.0, moderate))


def test_bursty_arrivals_need_a_larger_surge() -> None:
    calm, _ = loop()
    bursty, _ = loop()
    decide(calm, 60.0)
    decide(bursty, 60.0, dispersion=40.0)
    calm_surge, bursty_surge = SurgePropose(calm, 10.0), SurgePropose(bursty, 10.0)
    assert asked(check(calm_surge, 70.0, 2.5 * LOW / 6))
    assert not check(bursty_surge, 70.0, 2.5 * LOW / 6).targets


def test_a_surge_the_fleet_asked_for_already_serves_asks_for_nothing() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    assert not check(surge, 70.0, FOURFOLD, prefill=12, decode=4).targets


def test_a_surge_the_fleet_could_serve_at_looser_targets_is_asked_for_while_engines_miss_the_targets() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    threefold = 3 * LOW / 6  # three prefill engines and one decode engine serve it at targets three times looser
    assert not check(surge, 70.0, threefold, prefill=3, decode=1, step_ms=15.0).targets
    throughput, surge = loop()
    decide(throughput, 60.0)
    assert asked(check(surge, 70.0, threefold, prefill=3, decode=1, step_ms=30.0)) == {P: 4, D: 2}


def test_the_check_is_silent_when_the_throughput_loop_decides() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    assert not check(surge, 120.0, FOURFOLD).targets
    assert not check(loop()[1], 70.0, FOURFOLD).targets  # and before its first decision


def test_the_backlog_the_serving_engines_build_until_new_ones_start_is_asked_for_too() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    fresh = asked(check(surge, 70.0, FOURFOLD))
    throughput, surge = loop()
    decide(throughput, 60.0)
    backlogged = asked(check(surge, 70.0, FOURFOLD, queued=8_000_000.0))
    assert backlogged[P] > fresh[P]


def test_after_a_surge_that_was_over_within_a_start_up_the_next_is_not_chased() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    assert asked(check(surge, 70.0, FOURFOLD))
    assert not check(surge, 100.0, LOW / 6).targets  # back to the low load after 30 s: a burst
    decide(throughput, 600.0)
    result = check(surge, 610.0, FOURFOLD)
    assert not result.targets
    assert "not chased" in result.reason


def test_a_surge_that_outlasts_a_start_up_makes_surges_worth_chasing_again() -> None:
    throughput, surge = loop()
    decide(throughput, 60.0)
    check(surge, 70.0, FOURFOLD)
    check(surge, 100.0, LOW / 6)
    decide(throughput, 600.0)
    check(surge, 610.0, FOURFOLD)  # not chased, watched
    check(surge, 740.0, FOURFOLD)  # still there past the start-up: a step
    decide(throughput, 1200.0)
    assert asked(check(surge, 1210.0, FOURFOLD))


def test_engines_working_off_a_backlog_are_not_shed_while_it_lasts() -> None:
    traffic = TrafficObservation(60.0, LOW, 8000, 200, arrival_dispersion=1.0)
    predictions = Predictions(LOW, 8000, 200, num_requests_ahead=(LOW,) * 3)
    throughput, _ = loop(stabilization_s=0.0)
    drained = throughput.propose(context(60.0, traffic, 8, predictions=predictions))
    throughput, _ = loop(stabilization_s=0.0)
    # Two of the eight engines hold a queue of 3M tokens each, a minute's work: the other six carry the arrivals.
    busy = (WorkerLoad("p0", P, queued_prefill_tokens=3e6), WorkerLoad("p1", P, queued_prefill_tokens=3e6))
    ctx = context(60.0, traffic, 8, predictions=predictions)
    ctx = dataclasses.replace(ctx, observations=Observations(traffic=traffic, workers=busy))
    backlogged = throughput.propose(ctx)
    assert {t.role: t.replicas for t in backlogged.targets}[P] > {t.role: t.replicas for t in drained.targets}[P]


def test_the_simulated_frontend_counts_the_windows_last_seconds_apart() -> None:
    trace = poisson_trace("steady", lambda t: 5.0 if t < 50 else 20.0, 20.0, 60, isl=1000, osl=100, seed=3)
    cluster = SimCluster(PERF, trace.requests, {P: 1, D: 1}, SimSettings())
    cluster.advance_to(60.0)
    traffic = FrontendWindow(cluster).traffic(0.0, 60.0, 10.0)
    expected = sum(1 for r in trace.requests if 50.0 < r.arrival <= 60.0)
    assert traffic.recent_window_seconds == 10.0
    assert traffic.recent_num_requests == expected
    assert FrontendWindow(cluster).traffic(0.0, 60.0).recent_num_requests is None


def test_the_check_runs_between_decisions_only_where_there_are_any() -> None:
    assert PlannerConfig(ttft_ms=500, itl_ms=20).surge_interval_effective == 10.0
    assert PlannerConfig(ttft_ms=500, itl_ms=20).observe_interval_effective == 10.0
    assert PlannerConfig(ttft_ms=500, itl_ms=20, surge_check_interval_seconds=0).surge_interval_effective is None
    assert PlannerConfig(ttft_ms=500, throughput_adjustment_interval_seconds=10).surge_interval_effective is None
    assert PlannerConfig(ttft_ms=500, throughput_sizing="dynamo").surge_interval_effective is None
    assert PlannerConfig(ttft_ms=500, observe_interval_seconds=30).surge_interval_effective == 30.0
