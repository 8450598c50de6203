"""Throughput-based proposing: the perf model, Dynamo's formula, queue-aware sizing, corrections, caps."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from planner_plugins.perf import BUNDLED_PROFILE_DIR, PerfModel, ProfileError, load_profile
from planner_plugins.propose import (
    SizingSettings,
    ThroughputPropose,
    dynamo_decode,
    dynamo_prefill,
    erlang_c,
    servers_for_wait,
    wait_exceeds,
)
from planner_sdk import (
    ContextField,
    Observations,
    PlannerView,
    Predictions,
    ReplicaCount,
    Role,
    TickContext,
    Verdict,
    WorkerLoad,
)

PROFILE = load_profile(BUNDLED_PROFILE_DIR)
PERF = PerfModel.from_profile(PROFILE)
P, D = Role.PREFILL, Role.DECODE


def test_prefill_interpolation_reproduces_the_profile_at_its_samples() -> None:
    for isl, ttft, thpt in zip(
        PROFILE.prefill.isl, PROFILE.prefill.ttft_ms, PROFILE.prefill.throughput_per_gpu, strict=True
    ):
        assert PERF.prefill.ttft_ms(isl) == pytest.approx(ttft)
        assert PERF.prefill.throughput_per_gpu(isl) == pytest.approx(thpt)


def test_prefill_is_linear_between_samples_and_clamped_outside() -> None:
    isl = PROFILE.prefill.isl
    mid = (isl[3] + isl[4]) / 2
    assert PERF.prefill.ttft_ms(mid) == pytest.approx((PROFILE.prefill.ttft_ms[3] + PROFILE.prefill.ttft_ms[4]) / 2)
    assert PERF.prefill.ttft_ms(10) == pytest.approx(PROFILE.prefill.ttft_ms[0])
    assert PERF.prefill.throughput_per_gpu(10**6) == pytest.approx(PROFILE.prefill.throughput_per_gpu[-1])


def test_decode_interpolation_reproduces_monotone_samples() -> None:
    d = PROFILE.decode
    for kv, ctx, itl in zip(d.kv_usage, d.context_length, d.itl_ms, strict=True):
        row = (d.context_length == ctx) & (d.kv_usage <= kv)
        monotone = float(np.max(d.itl_ms[row]))  # the surface is made non-decreasing in KV usage
        assert PERF.decode.itl_ms(kv, ctx) == pytest.approx(monotone)
        assert monotone >= itl


def test_decode_itl_never_falls_as_the_cache_fills() -> None:
    for ctx in (350, 1500, 2997, 9000, 13585, 40000):
        itls = [PERF.decode.itl_ms(kv, ctx) for kv in np.linspace(0, 1, 101)]
        assert all(b >= a - 1e-9 for a, b in itertools.pairwise(itls))


def test_best_operating_point_meets_the_itl_target() -> None:
    point = PERF.decode.best_operating_point(25.0, 5000)
    assert point.meets_target
    assert point.itl_ms == pytest.approx(25.0, abs=0.01)
    assert not PERF.decode.best_operating_point(1.0, 5000).meets_target


def test_dynamo_prefill_formula_by_hand() -> None:
    # 6000 requests of 3151 tokens per 60 s = 315,100 tokens/s over 49,845.96 tokens/s/GPU = 6.32 -> 7.
    assert PROFILE.prefill.isl[3] == 3151
    assert dynamo_prefill(PERF, 6000, 3151, 60, 1.0, 1) == 7
    assert dynamo_prefill(PERF, 6000, 3151, 60, 0.5, 1) == 4  # correction below 1 scales the load
    assert dynamo_prefill(PERF, 6000, 3151, 60, 3.0, 1) == 7  # ... and above 1 does not
    assert dynamo_prefill(PERF, 6000, 3151, 60, 1.0, 2) == 4  # two GPUs per engine


def test_dynamo_decode_formula_by_hand() -> None:
    # Context 2922 + 150/2 = 2997, a profiled row; ITL 22.128 ms is reached at KV usage 0.46:
    # 0.46 * 945,029 / 2997 = 145 requests, each a token per 22.128 ms = 6,555 tokens/s.
    d = PROFILE.decode
    index = int(np.argmin(np.abs(d.itl_ms - 22.128) + np.abs(d.context_length - 2997)))
    kv = d.kv_usage[index]
    per_gpu = kv * d.max_kv_tokens / 2997 * 1000 / d.itl_ms[index]
    expected = math.ceil(6000 * 150 / 60 / per_gpu)
    assert dynamo_decode(PERF, 6000, 2922, 150, 60, float(d.itl_ms[index]), 1) == expected == 3


def test_erlang_c_matches_the_textbook() -> None:
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 2.5) == 1.0


def test_mm1_wait_tail_matches_the_closed_form() -> None:
    # M/M/1: P(W > t) = rho * exp(-(mu - lambda) t).
    assert wait_exceeds(1, 0.5, 1.0, 2.0) == pytest.approx(0.5 * math.exp(-1.0))


def test_the_wait_at_a_quantile_is_where_the_tail_reaches_the_rest() -> None:
    from planner_plugins.propose.queueing import wait_at_quantile

    t = wait_at_quantile(12, 10, 1.0, 0.99, variability=1.5)
    assert wait_exceeds(12, 10, 1.0, t, variability=1.5) == pytest.approx(0.01)
    assert wait_at_quantile(10, 10, 1.0, 0.99) == math.inf


def test_servers_for_wait_is_the_smallest_count_meeting_the_quantile() -> None:
    n = servers_for_wait(arrival_rate=10, service_s=1.0, max_wait_s=0.5, quantile=0.95)
    assert wait_exceeds(n, 10, 1.0, 0.5) <= 0.05 < wait_exceeds(n - 1, 10, 1.0, 0.5)


def view() -> PlannerView:
    return PlannerView("disagg", (P, D), "sla", 1000.0, 25.0, -1, {P: 1, D: 1}, {P: 1, D: 1})


def ctx(num: float, isl: float, osl: float, prefill: int = 1, decode: int = 1) -> TickContext:
    return TickContext(
        tick_id=1,
        decision_id=1,
        now=0.0,
        planner=view(),
        replicas={P: ReplicaCount(prefill, prefill), D: ReplicaCount(decode, decode)},
        predictions=Predictions(num, isl, osl),
    )


def plugin(
    sizing: str = "dynamo",
    floor: bool = False,
    roles: tuple[Role, ...] = (P, D),
    ttft_ms: float = 1000,
) -> ThroughputPropose:
    settings = SizingSettings(
        interval_s=60, ttft_ms=ttft_ms, itl_ms=25, min_endpoint={P: 1, D: 1, Role.AGG: 1},
        sizing=sizing, correction=False,
    )  # fmt: skip
    return ThroughputPropose(PERF, settings, roles, floor)


def targets(result: object) -> dict[Role, int]:
    return {t.role: t.replicas for t in result.targets}  # type: ignore[attr-defined]


def test_the_plugin_requires_predictions() -> None:
    assert ContextField.PREDICTIONS in plugin().spec.requires


def test_the_plugin_proposes_the_formula() -> None:
    result = plugin().propose(ctx(6000, 3151, 150, prefill=6, decode=2))
    assert result.verdict is Verdict.OVERRIDE
    assert targets(result)[P] == 7


def test_no_traffic_shrinks_to_the_min_endpoints_once_the_stabilisation_window_has_passed() -> None:
    sizer = plugin()
    quiet = ctx(0, 3000, 150, prefill=5, decode=5)
    assert targets(sizer.propose(quiet)) == {P: 5, D: 5}  # the running fleet is held at first
    later = TickContext(quiet.tick_id, 2, 1000.0, quiet.planner, quiet.replicas, predictions=quiet.predictions)
    assert targets(sizer.propose(later)) == {P: 1, D: 1}


def test_with_load_scaling_it_proposes_a_floor() -> None:
    result = plugin(floor=True).propose(ctx(6000, 3151, 150, prefill=6, decode=2))
    assert {t.bound.value for t in result.targets} == {"at_least"}


def test_agg_mode_sizes_one_pool_for_both_phases() -> None:
    agg = plugin(roles=(Role.AGG,))
    context = ctx(6000, 3151, 150)
    context = TickContext(1, 1, 0.0, view(), {Role.AGG: ReplicaCount(1, 1)}, predictions=context.predictions)
    result = agg.propose(context)
    prefill_only = dynamo_prefill(PERF, 6000, 3151, 60, 1.0, 1)
    assert set(targets(result)) == {Role.AGG}
    assert targets(result)[Role.AGG] > prefill_only - 1


def test_queue_aware_sizing_keeps_headroom_the_mean_rate_formula_lacks() -> None:
    # 100 req/s of 63 ms prefills: 6.3 engines busy on average. With a 150 ms TTFT, the 87 ms left
    # for queueing needs spare engines; the mean-rate formula runs them at 90 % and queues build.
    dynamo = targets(plugin("dynamo", ttft_ms=150).propose(ctx(6000, 3151, 150)))[P]
    queue = targets(plugin("queue_aware", ttft_ms=150).propose(ctx(6000, 3151, 150)))[P]
    assert dynamo == 7
    assert queue > dynamo


def sizer_reading(dispersion: float | None) -> ThroughputPropose:
    """A queue-aware sizer without a stabilisation window, having read arrivals of this dispersion
    (None: no reading)."""
    settings = SizingSettings(
        interval_s=60, ttft_ms=1000, itl_ms=25, min_endpoint={P: 1, D: 1}, sizing="queue_aware",
        correction=False, scale_down_stabilization_s=0,
    )  # fmt: skip
    sizer = ThroughputPropose(PERF, settings, (P, D), floor=False)
    if dispersion is not None:
        sizer.arrivals.observe(dispersion, 60.0)
    return sizer


def shed_from(sizer: ThroughputPropose, up: int) -> int:
    """What the sizer asks of `up` prefill engines at a load one fewer meets, but not 10 % tighter."""
    num = next(
        n for n in range(9000, 0, -25)
        if sizer.size(n, 3151, 150)[P] < up and sizer.size(n, 3151, 150, 0.9)[P] >= up
    )  # fmt: skip
    return targets(sizer.propose(ctx(num, 3151, 150, prefill=up)))[P]


def test_on_bursty_arrivals_a_pool_is_shed_only_when_the_smaller_one_meets_tighter_targets() -> None:
    bursty = sizer_reading(dispersion=40.0)
    assert bursty.burstiness >= 2.0
    assert shed_from(bursty, up=8) == 8


def test_arrivals_whose_dispersion_is_not_observed_keep_the_hysteresis() -> None:
    assert shed_from(sizer_reading(dispersion=None), up=8) == 8  # unknown is not taken for Poisson


def test_on_poisson_arrivals_a_pool_is_shed_once_the_smaller_one_meets_the_targets() -> None:
    poisson = sizer_reading(dispersion=1.0)
    assert shed_from(poisson, up=8) < 8


def test_corrections_follow_observed_over_modelled_latency() -> None:
    from planner_plugins.propose import Corrections
    from planner_sdk import TrafficObservation

    corrections = Corrections(smoothing=1.0)
    traffic = TrafficObservation(60, 600, 3151, 150, mean_ttft_ms=2 * PERF.prefill.ttft_ms(3151), mean_itl_ms=20)
    corrections.update(PERF, traffic, {P: ReplicaCount(2, 2), D: ReplicaCount(2, 2)})
    assert corrections.prefill == pytest.approx(2.0)
    assert corrections.decode > 0


def test_corrections_ignore_quiet_intervals_and_scaling_in_progress() -> None:
    from planner_plugins.propose import Corrections
    from planner_sdk import TrafficObservation

    corrections = Corrections(smoothing=1.0)
    slow = TrafficObservation(60, 5, 3151, 150, mean_ttft_ms=10_000, mean_itl_ms=200)
    corrections.update(PERF, slow, {P: ReplicaCount(2, 2), D: ReplicaCount(2, 2)})
    busy = TrafficObservation(60, 600, 3151, 150, mean_ttft_ms=10_000, mean_itl_ms=200)
    corrections.update(PERF, busy, {P: ReplicaCount(1, 2), D: ReplicaCount(2, 2)})
    assert (corrections.prefill, corrections.decode) == (1.0, 1.0)


def test_a_missing_profile_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no prefill profiling data"):
        load_profile(tmp_path)


def test_a_malformed_profile_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "prefill_raw_data.json").write_text(json.dumps({"prefill_isl": [1, 2], "prefill_ttft": [1, 2]}))
    (tmp_path / "decode_raw_data.json").write_text("{}")
    with pytest.raises(ProfileError, match=r"prefill_raw_data.json: missing key 'prefill_thpt_per_gpu'"):
        load_profile(tmp_path)
    (tmp_path / "prefill_raw_data.json").write_text(
        json.dumps({"prefill_isl": [1, 2], "prefill_ttft": [1, "x"], "prefill_thpt_per_gpu": [1, 2]})
    )
    with pytest.raises(ProfileError, match=r"key 'prefill_ttft' is not a list of numbers"):
        load_profile(tmp_path)


def test_the_json_form_loads_like_the_npz_form(tmp_path: Path) -> None:
    p, d = PROFILE.prefill, PROFILE.decode
    (tmp_path / "prefill_raw_data.json").write_text(
        json.dumps(
            {
                "prefill_isl": p.isl.tolist(),
                "prefill_ttft": p.ttft_ms.tolist(),
                "prefill_thpt_per_gpu": p.throughput_per_gpu.tolist(),
            }
        )
    )
    decode = {
        "x_kv_usage": d.kv_usage.tolist(),
        "y_context_length": d.context_length.tolist(),
        "z_itl": d.itl_ms.tolist(),
        "z_thpt_per_gpu": d.throughput_per_gpu.tolist(),
        "max_kv_tokens": d.max_kv_tokens,
    }
    (tmp_path / "decode_raw_data.json").write_text(json.dumps(decode))
    loaded = PerfModel.from_profile(load_profile(tmp_path))
    assert loaded.decode.itl_ms(0.5, 5000) == PERF.decode.itl_ms(0.5, 5000)


def stabilising_sizer(prefill: int) -> Callable[[float, float], int]:
    """The prefill target a sizer with a 300 s stabilisation window proposes at `now` for `num`
    requests, on a deployment of `prefill` prefill engines."""
    settings = SizingSettings(
        interval_s=60, ttft_ms=1000, itl_ms=25, min_endpoint={P: 1, D: 1}, sizing="dynamo",
        correction=False, scale_down_stabilization_s=300,
    )  # fmt: skip
    sizer = ThroughputPropose(PERF, settings, (P, D), floor=False)

    def at(now: float, num: float) -> int:
        context = ctx(num, 3151, 150, prefill=prefill, decode=3)
        context = TickContext(
            context.tick_id, 1, now, context.planner, context.replicas, predictions=context.predictions
        )
        return targets(sizer.propose(context))[P]

    return at


def test_scale_down_stabilisation_keeps_the_largest_target_of_the_window() -> None:
    at = stabilising_sizer(prefill=7)
    assert at(0, 6000) == 7
    assert at(60, 0) == 7  # an idle minute inside the window: hold
    assert at(240, 0) == 7
    assert at(361, 0) == 1  # the busy minute has left the window


def test_the_fleet_found_at_the_first_decision_is_held_for_the_stabilisation_window() -> None:
    at = stabilising_sizer(prefill=9)  # a quiet first window on a 9-engine fleet
    assert at(60, 60) == 9  # one window is too little history to shed what the deployment runs
    assert at(300, 60) == 9
    assert at(361, 60) == 1  # held for the window, then sized from the traffic


def test_without_a_request_forecast_it_proposes_nothing() -> None:
    context = TickContext(
        1, 1, 0.0, view(), {P: ReplicaCount(5, 5), D: ReplicaCount(5, 5)}, predictions=Predictions(None, 3000, 150)
    )
    result = plugin().propose(context)
    assert result.targets == ()


def test_queue_aware_sizing_also_drains_the_prefill_backlog_a_burst_left() -> None:
    calm = ctx(600, 3151, 150, prefill=1)
    backlog = TickContext(
        calm.tick_id, 1, 0.0, calm.planner, calm.replicas, predictions=calm.predictions,
        observations=Observations(workers=(WorkerLoad("p0", P, queued_prefill_tokens=20_000_000),)),
    )  # fmt: skip
    without = targets(plugin("queue_aware").propose(calm))[P]
    with_backlog = targets(plugin("queue_aware").propose(backlog))[P]
    assert with_backlog > without


def after_a_burst(queued_prefill_tokens: float) -> dict[Role, int]:
    """Targets for 600 requests a minute on 6P/2D serving, with a burst's prompts still queued."""
    settings = SizingSettings(interval_s=60, ttft_ms=1000, itl_ms=25, min_endpoint={P: 1, D: 1},
                              scale_down_stabilization_s=0)  # fmt: skip
    burst = dataclasses.replace(
        ctx(600, 3151, 150, prefill=6, decode=2),
        observations=Observations(workers=(WorkerLoad("p0", P, queued_prefill_tokens=queued_prefill_tokens),)),
    )
    return targets(ThroughputPropose(PERF, settings, (P, D), floor=False).propose(burst))


def test_prefill_engines_draining_a_backlog_are_not_shed_while_it_lasts() -> None:
    # Six engines drain 20M tokens within a start-up; shed to the two the arrivals need, they could not.
    assert after_a_burst(0)[P] == 2
    assert after_a_burst(20_000_000)[P] > 2


def test_decode_is_sized_for_the_backlog_prefill_drains_into_it() -> None:
    assert after_a_burst(20_000_000)[D] > after_a_burst(0)[D]
