"""engine_model: learnt — the engines' speed fitted from their own metrics, withheld until trustworthy."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import varying_load
from planner.config import PlannerConfig
from planner.sim.learning import learning_replay, model_error
from planner_plugins.builtins import create_plugins
from planner_plugins.observe import parse_worker_metrics
from planner_plugins.perf import BUNDLED_PROFILE_DIR, PerfModel, ProfileError, load_profile
from planner_plugins.perf.learnt import YOUNG_MARGIN, EngineModelLearner, fit_non_negative
from planner_plugins.predict import EngineModelLearn
from planner_plugins.propose import SizingSettings, ThroughputPropose
from planner_plugins.traces import synthetic_trace
from planner_sdk import (
    Observations,
    PlannerView,
    Predictions,
    ReplicaCount,
    Role,
    TickContext,
    Verdict,
    WorkerLoad,
)

P, D = Role.PREFILL, Role.DECODE
PERF = PerfModel.from_profile(load_profile(BUNDLED_PROFILE_DIR))
VIEW = PlannerView("disagg", (P, D), "sla", 1000, 20, -1, {}, {})


def test_from_a_simulated_engines_metrics_the_model_converges_within_5_percent() -> None:
    _, learner, isl, osl = varying_load()
    errors = model_error(PERF, learner, isl, osl)
    assert errors is not None
    ttft_error, itl_error = errors
    assert ttft_error <= 0.05
    assert itl_error <= 0.05


def test_a_load_that_never_varied_gives_no_model() -> None:
    learner = EngineModelLearner()
    steady = (
        WorkerLoad("p0", P, forward_pass_ms=90.0, forward_pass_tokens=4000.0),
        WorkerLoad("d0", D, running_requests=40, scheduled_kv_tokens=120_000, max_kv_tokens=900_000, recent_itl_ms=9.0),
    )
    for _ in range(500):
        learner.observe(steady)
    assert learner.model() is None
    assert "prefill load has not varied enough" in learner.status
    assert "decode load has not varied enough" in learner.status


def test_sample_memory_stays_bounded_however_long_it_runs() -> None:
    learner = EngineModelLearner(max_samples=256, buckets=16)
    rng = np.random.default_rng(1)
    for tokens in rng.uniform(100, 100_000, 50_000):
        learner.observe((WorkerLoad("p0", P, forward_pass_ms=tokens / 50, forward_pass_tokens=float(tokens)),))
    assert len(learner.prefill) <= 256


def test_decode_engines_that_report_no_kv_capacity_are_named_as_the_reason() -> None:
    learner = EngineModelLearner()
    for batch in range(1, 60):
        learner.observe(
            (
                WorkerLoad(
                    "d0", D, running_requests=batch, scheduled_kv_tokens=batch * 3000.0, recent_itl_ms=5 + batch / 5
                ),
            )
        )
    assert learner.model() is None
    assert "no KV capacity" in learner.status


def test_a_young_fit_reads_slower_and_the_margin_fades() -> None:
    cluster, learner, _, _ = varying_load(minutes=30)
    assert learner.margin < YOUNG_MARGIN / 5
    young = EngineModelLearner()
    young.observe(cluster.worker_loads())
    assert young.margin == pytest.approx(YOUNG_MARGIN)


def test_a_term_that_fits_negative_is_dropped_not_kept() -> None:
    batch = np.arange(1.0, 21.0)
    features = np.column_stack([np.ones(20), batch, batch * 1000.0])  # collinear: one load
    fit = fit_non_negative(features, 5.0 + 0.02 * batch * 1000.0)
    assert min(fit.coefficients) >= 0.0
    assert fit.relative_error < 1e-6


CAPACITY = 900_000.0
CONTEXT = 10_000.0


def bent_itl_ms(usage: float) -> float:
    """An engine whose step time flattens past half its cache (as measured engines' curves bend)."""
    return 4.0 + 30.0 * min(usage, 0.5) + 12.0 * max(0.0, usage - 0.5)


def decode_load(usage: float) -> WorkerLoad:
    batch = max(1, round(usage * CAPACITY / CONTEXT))
    kv = batch * CONTEXT
    return WorkerLoad(
        "d0", D, running_requests=batch, scheduled_kv_tokens=kv, max_kv_tokens=CAPACITY,
        recent_itl_ms=bent_itl_ms(kv / CAPACITY),
    )  # fmt: skip


def learner_fed(usages: np.ndarray) -> EngineModelLearner:
    learner = EngineModelLearner()
    for i, usage in enumerate(usages):
        tokens = 500.0 + 37.0 * (i % 200)
        learner.observe((WorkerLoad("p0", P, forward_pass_ms=5 + tokens / 40, forward_pass_tokens=tokens),))
        learner.observe((decode_load(float(usage)),))
    return learner


def test_a_busy_engines_few_samples_are_kept_beside_a_quiet_ones_many() -> None:
    quiet = np.random.default_rng(2).uniform(0.01, 0.1, 5000)
    learner = learner_fed(np.concatenate([quiet, [0.62, 0.64, 0.66, 0.68], quiet]))
    busy = [kv / CAPACITY for _, kv, _ in learner.decode if kv / CAPACITY > 0.5]
    assert len(busy) == 4


def test_a_step_curve_that_bends_is_followed_where_the_engines_ran() -> None:
    learner = learner_fed(np.random.default_rng(3).uniform(0.02, 0.7, 2000))
    model = learner.model()
    assert model is not None
    for usage in (0.3, 0.6, 0.68):  # the young fit's margin aside
        learnt = model.decode.itl_ms(usage, CONTEXT) / (1 + learner.margin)
        assert learnt == pytest.approx(bent_itl_ms(usage), rel=0.03)
    # A straight line through the same samples reads the busy end several per cent slow.
    straight = learner._decode_fit()
    assert not isinstance(straight, str)
    batch = 0.68 * CAPACITY / CONTEXT
    assert straight((1.0, batch, batch * CONTEXT)) > 1.05 * bent_itl_ms(0.68)


def propose_context(workers: tuple[WorkerLoad, ...] = ()) -> TickContext:
    return TickContext(
        3, 60, 180.0, VIEW, {P: ReplicaCount(2, 2), D: ReplicaCount(2, 2)}, Observations(workers=workers),
        Predictions(num_requests=600, isl=3000, osl=200),
    )  # fmt: skip


def test_proposals_are_withheld_as_model_not_ready_until_the_fit_is_trustworthy() -> None:
    learner = EngineModelLearner()
    proposer = ThroughputPropose(learner, SizingSettings(interval_s=60, ttft_ms=1000, itl_ms=20), (P, D), floor=False)
    result = proposer.propose(propose_context())
    assert result.verdict is Verdict.ACCEPT
    assert result.reason.startswith("model_not_ready: ")
    _, trained, _, _ = varying_load(minutes=20)
    proposer.learner = trained
    assert proposer.propose(propose_context()).verdict is Verdict.OVERRIDE


def settings(**overrides: object) -> dict[str, object]:
    config = PlannerConfig(**{"ttft_ms": 1000, "environment": "virtual", **overrides})  # type: ignore[arg-type]
    return {**config.model_dump(mode="json"), "effective": config.effective()}


def test_with_no_profile_and_no_aic_model_a_real_deployment_learns_from_its_workers() -> None:
    workers = [{"worker_id": "d0", "role": "decode", "url": "http://127.0.0.1:1/metrics"}]
    plugins = create_plugins(settings(worker_metrics=workers))
    learn = [p for p in plugins if isinstance(p, EngineModelLearn)]
    assert len(learn) == 1
    assert learn[0].spec.execution_interval_seconds == 5.0  # the load loop's cadence
    proposer = next(p for p in plugins if isinstance(p, ThroughputPropose))
    assert proposer.learner is learn[0].learner


def test_with_nothing_to_learn_from_the_error_names_every_way_to_give_the_engines_speed() -> None:
    with pytest.raises(
        ProfileError, match=r"profile_results_dir .*aic_perf_model .*worker_metrics, or kubernetes.workers"
    ):
        create_plugins(settings())


def test_aggregated_engines_need_their_speed_given_not_learnt() -> None:
    workers = [{"worker_id": "a0", "role": "agg", "url": "http://127.0.0.1:1/metrics"}]
    with pytest.raises(ProfileError, match=r"mode: agg needs the engines' speed given, not learnt"):
        create_plugins(settings(mode="agg", worker_metrics=workers))


def test_a_configured_profile_is_used_not_learnt() -> None:
    plugins = create_plugins(settings(profile_results_dir=str(BUNDLED_PROFILE_DIR)))
    assert not any(isinstance(p, EngineModelLearn) for p in plugins)


def test_vllm_prefill_time_and_prompt_tokens_become_a_pass_sample() -> None:
    text = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 2
# TYPE vllm:request_prompt_tokens histogram
vllm:request_prompt_tokens_count{model_name="m"} 10
vllm:request_prompt_tokens_sum{model_name="m"} 40000
# TYPE vllm:request_prefill_time_seconds histogram
vllm:request_prefill_time_seconds_count{model_name="m"} 10
vllm:request_prefill_time_seconds_sum{model_name="m"} 0.9
"""
    load, _ = parse_worker_metrics(text, "p0", P)
    assert load.forward_pass_tokens == pytest.approx(4000.0)
    assert load.forward_pass_ms == pytest.approx(90.0)


def test_a_replay_that_starts_with_no_model_withholds_then_plans_and_meets_the_sla() -> None:
    trace = synthetic_trace("sine", 1800, 8.0, amplitude=6.0, period_s=900, isl=3000, osl=200, seed=5)
    config = PlannerConfig(
        ttft_ms=1000, itl_ms=25, max_gpu_budget=-1, throughput_adjustment_interval_seconds=60, engine_model="learnt",
        simulation={"initial_prefill": 2, "initial_decode": 2},
    )  # fmt: skip
    result = learning_replay(config, trace)
    assert result.withheld >= 1  # the first decision came before the fit
    assert result.points[-1].ready
    assert result.converged_at is not None
    assert result.replay.sla_attainment >= 0.95


def sglang_prefill(waiting: int, prompt_tokens: int, requests: int, ttft_seconds: float) -> str:
    """An SGLang prefill engine's /metrics (its documented names): counters of prompt tokens and
    requests, and the TTFT histogram's sum and count (one request, one first token)."""
    return f"""# TYPE sglang:num_running_reqs gauge
sglang:num_running_reqs 1
# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs {waiting}
# TYPE sglang:prompt_tokens counter
sglang:prompt_tokens_total {prompt_tokens}
# TYPE sglang:num_requests counter
sglang:num_requests_total {requests}
# TYPE sglang:time_to_first_token_seconds histogram
sglang:time_to_first_token_seconds_bucket{{le="+Inf"}} {requests}
sglang:time_to_first_token_seconds_sum {ttft_seconds}
sglang:time_to_first_token_seconds_count {requests}
"""


def test_an_sglang_prefill_engine_with_nothing_waiting_gives_its_ttft_as_a_pass() -> None:
    busy, _ = parse_worker_metrics(sglang_prefill(4, 500_000, 250, 100.0), "p0", P)
    assert busy.forward_pass_ms is None  # prompts waiting: their TTFT is queueing, not a pass
    first, totals = parse_worker_metrics(sglang_prefill(0, 500_000, 250, 100.0), "p0", P)
    assert first.forward_pass_ms == pytest.approx(400.0)  # 100 s of TTFT over 250 requests
    assert first.forward_pass_tokens == pytest.approx(2000.0)
    recent, _ = parse_worker_metrics(sglang_prefill(0, 530_000, 260, 106.0), "p0", P, totals)
    assert recent.forward_pass_tokens == pytest.approx(3000.0)  # the ten requests since the last scrape
    assert recent.forward_pass_ms == pytest.approx(600.0)
