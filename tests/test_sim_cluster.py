"""Fidelity of the simulated deployment to the profile, and its scaling reality."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import finished_requests
from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.engines import DecodeEngine, TimedSeries
from planner_plugins.perf import BUNDLED_PROFILE_DIR, PerfModel, load_profile
from planner_plugins.traces import TraceRequest, synthetic_trace
from planner_sdk import ReplicaCount, Role

P, D = Role.PREFILL, Role.DECODE
PROFILE = load_profile(BUNDLED_PROFILE_DIR)
PERF = PerfModel.from_profile(PROFILE)
NO_TRANSFER = SimSettings(kv_transfer_ms_per_1k_tokens=0.0)


@pytest.mark.parametrize("index", [0, 3, 8, 16])
def test_a_lone_requests_ttft_is_the_profiles_ttft_at_its_isl(index: int) -> None:
    isl = int(PROFILE.prefill.isl[index])
    cluster = SimCluster(PERF, [TraceRequest(0.0, isl, 10)], {P: 1, D: 1}, NO_TRANSFER)
    cluster.run_until_drained()
    expected_s = PROFILE.prefill.ttft_ms[index] / 1000.0
    assert cluster.outcomes.ttft_s[0] == pytest.approx(expected_s, rel=0.05)


def test_kv_transfer_adds_its_time_per_token() -> None:
    settings = SimSettings(kv_transfer_ms_per_1k_tokens=2.0)
    cluster = SimCluster(PERF, [TraceRequest(0.0, 3151, 10)], {P: 1, D: 1}, settings)
    cluster.run_until_drained()
    assert cluster.outcomes.ttft_s[0] == pytest.approx(PERF.prefill.ttft_ms(3151) / 1000 + 3151 * 2e-6)


@pytest.mark.parametrize(("kv_index"), [9, 10, 11, 17, 30])
def test_itl_at_a_fixed_batch_is_the_profiles_surface(kv_index: int) -> None:
    """A batch whose KV usage and context sit on a profiled point decodes at that point's ITL."""
    kv, context = PROFILE.decode.kv_usage[kv_index], PROFILE.decode.context_length[kv_index]
    osl = 41  # short, so the context barely grows: it stays at the profiled point
    isl = int(context) - osl // 2
    batch = max(1, round(kv * PROFILE.decode.max_kv_tokens / context))
    requests = [TraceRequest(0.0, isl, osl) for _ in range(batch)]
    # One prefill engine per request: every request reaches decode at the same instant.
    cluster = SimCluster(PERF, requests, {P: batch, D: 1}, SimSettings(max_decode_batch=10_000))
    cluster.run_until_drained()
    itls = [itl * 1000 for itl in cluster.outcomes.itl_s]
    assert len(itls) == batch
    assert np.ptp(itls) < 1e-6  # one batch, one pace
    assert itls[0] == pytest.approx(PROFILE.decode.itl_ms[kv_index], rel=0.05)


def test_the_same_trace_gives_the_same_result() -> None:
    trace = synthetic_trace("bursts", 300, 8.0, amplitude=20, period_s=60, seed=5)

    def run() -> list[tuple[float, float]]:
        cluster = SimCluster(PERF, trace.requests, {P: 2, D: 2})
        finished = finished_requests(cluster)
        cluster.run_until_drained()
        assert len(finished) == len(trace.requests)
        return [(r.arrival, r.first_token, r.finish) for r in finished]

    assert run() == run()


def test_a_new_engine_serves_only_after_the_startup_delay() -> None:
    cluster = SimCluster(PERF, [], {P: 1, D: 1}, SimSettings(startup_delay_s=120))
    cluster.advance_to(10)
    cluster.set_replicas(P, 3)
    assert cluster.replicas()[P] == ReplicaCount(ready=1, expected=3)
    cluster.advance_to(129.9)
    assert cluster.replicas()[P].ready == 1
    cluster.advance_to(130)
    assert cluster.replicas()[P] == ReplicaCount(ready=3, expected=3)


def test_a_removed_engine_drains_what_it_holds_before_it_leaves() -> None:
    requests = [TraceRequest(0.0, 16000, 10) for _ in range(4)]
    cluster = SimCluster(PERF, requests, {P: 2, D: 1}, NO_TRANSFER)
    cluster.advance_to(0.001)  # both engines hold two prompts each
    cluster.set_replicas(P, 1)
    assert cluster.replicas()[P] == ReplicaCount(ready=1, expected=1)
    draining = next(e for e in cluster.prefill if e.draining)
    assert draining.gone_at is None
    cluster.run_until_drained()
    assert cluster.finished == len(requests)
    assert draining.gone_at == pytest.approx(2 * PERF.prefill.batch_ms(16000) / 1000)


def test_gpu_seconds_count_from_the_request_until_the_engine_is_gone() -> None:
    cluster = SimCluster(PERF, [], {P: 1, D: 1}, SimSettings(startup_delay_s=100))
    cluster.advance_to(50)
    cluster.set_replicas(D, 2)  # asked for at 50, ready at 150
    cluster.advance_to(200)
    cluster.set_replicas(D, 1)  # idle: gone at once
    cluster.advance_to(300)
    assert cluster.gpu_seconds() == pytest.approx(300 + 300 + 150)


def test_an_engine_still_starting_is_removed_first_and_at_once() -> None:
    cluster = SimCluster(PERF, [], {P: 1, D: 1}, SimSettings(startup_delay_s=100))
    cluster.set_replicas(P, 2)
    cluster.advance_to(10)
    cluster.set_replicas(P, 1)
    assert [e.gone_at for e in cluster.prefill] == [None, 10]


def test_requests_wait_for_kv_room_on_a_full_decode_engine() -> None:
    big = PROFILE.decode.max_kv_tokens // 2
    requests = [TraceRequest(0.0, big, 2000) for _ in range(3)]
    cluster = SimCluster(PERF, requests, {P: 3, D: 1}, SimSettings(prefill_chunk_tokens=10**7))
    arrive = PERF.prefill.batch_ms(big) / 1000 + big * 2.4e-6  # all three reach decode together
    cluster.advance_to(arrive + 1)
    decode = cluster.decode[0]
    assert decode.count == 1
    assert len(decode.waiting) == 2
    cluster.run_until_drained()
    assert cluster.finished == len(requests)


def test_worker_loads_report_each_ready_engine() -> None:
    requests = [TraceRequest(0.0, 8000, 100) for _ in range(6)]
    cluster = SimCluster(PERF, requests, {P: 2, D: 2}, SimSettings(startup_delay_s=30))
    cluster.set_replicas(D, 3)  # the third is still starting: not reported
    cluster.advance_to(0.0)
    loads = cluster.worker_loads()
    assert sorted(w.worker_id for w in loads) == ["decode-0", "decode-1", "prefill-0", "prefill-1"]
    prefill = [w for w in loads if w.role is P]
    assert (
        sum(w.queued_prefill_tokens or 0 for w in prefill) + sum(8000 * (w.running_requests or 0) for w in prefill)
        == 6 * 8000
    )


def test_the_simulator_needs_both_roles() -> None:
    with pytest.raises(Exception, match="disaggregated"):
        SimCluster(PERF, [], {Role.AGG: 1})


def test_a_decode_engines_kv_in_use_is_never_reported_below_zero() -> None:
    engine = DecodeEngine("decode-0", 0.0, 0.0)
    engine.count, engine.progress, engine.sum_isl, engine.sum_start = 1, 0.1 + 0.2, 0, 0.30000000000000004
    assert engine.kv_used() == 0.0  # float sums of an emptied batch land a hair below zero


def test_an_engine_days_into_a_run_still_finishes_its_requests() -> None:
    """Days in, time and the step count are large floats: a request a hair short of its last step
    must not be stepped at the same instant forever (the soak found this livelock)."""
    requests = [TraceRequest(3.0e7 + 0.37 * i, 500 + i, 50 + i % 7) for i in range(200)]
    cluster = SimCluster(PERF, requests, {P: 1, D: 1}, NO_TRANSFER)
    cluster.decode[0].progress = 1.0e9 + 0.123  # as after a long life of decoding
    cluster.run_until_drained()
    assert cluster.finished == len(requests)


def test_latency_logs_keep_hours_not_days_and_their_windows_stay_right() -> None:
    series = TimedSeries(horizon_s=3600.0)
    for second in range(3 * 86400):
        series.add(float(second), float(second % 10))
    assert len(series.times) < 2 * 3600 + 1024  # what a day ago logged is gone
    assert series.mean_between(3 * 86400 - 11.0, 3 * 86400 - 1.0) == pytest.approx(4.5)  # 0..9 over the last ten


def test_engines_gone_hours_ago_are_forgotten_but_their_gpu_time_still_counts() -> None:
    cluster = SimCluster(PERF, [], {P: 1, D: 1}, SimSettings(startup_delay_s=100))
    for hour in range(1, 11):  # every hour one more decode engine, gone at once again
        cluster.advance_to(hour * 3600.0)
        cluster.set_replicas(D, 2)
        cluster.advance_to(hour * 3600.0 + 600.0)
        cluster.set_replicas(D, 1)
    assert len(cluster.decode) < 7  # the ones gone over four hours ago are no longer held
    assert cluster.gpu_seconds() == pytest.approx(2 * cluster.now + 10 * 600.0)
    with pytest.raises(Exception, match="no longer known"):
        cluster.gpu_seconds(3600.0)
