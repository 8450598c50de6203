"""Replay: the real planner on the virtual clock over a trace, scored against the oracle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from planner.cli import main
from planner.config import PlannerConfig
from planner.sim.cluster import SimCluster, SimSettings
from planner.sim.engines import SimRequest
from planner.sim.oracle import OracleResult, billed_engine_seconds, oracle_sizing
from planner.sim.replay import replay_config, replay_configs
from planner.sim.score import targets_met
from planner.sim.world import load_perf
from planner_plugins.traces import Trace, synthetic_trace
from planner_sdk import Role

DATA = Path(__file__).parent / "data"
JSON_FIELDS = {
    "name", "requests", "simulated_seconds", "wall_seconds", "gpu_hours", "oracle_gpu_hours", "sla_attainment",
    "ttft_attainment", "itl_attainment", "p50_ttft_ms", "p99_ttft_ms", "p50_itl_ms", "p99_itl_ms", "scale_actions",
    "scale_actions_by_role", "cuts", "cut_decisions",
}  # fmt: skip


def sla_config(**extra: object) -> PlannerConfig:
    base: dict[str, object] = {
        "optimization_target": "sla", "throughput_adjustment_interval_seconds": 30, "ttft_ms": 1000, "itl_ms": 30,
        "max_gpu_budget": -1, "load_predictor": "constant", "simulation": {"startup_delay_seconds": 30},
    }  # fmt: skip
    base.update(extra)
    return PlannerConfig(**base)


def test_a_static_deployment_is_scored_without_scaling() -> None:
    trace = synthetic_trace("constant", 300, 2.0, isl=2000, osl=100, seed=1)
    config = sla_config(advisory=True, simulation={"initial_prefill": 2, "initial_decode": 2})
    result = replay_config(config, trace, name="static")
    assert result.requests == len(trace.requests)
    assert result.scale_actions == 0
    assert result.gpu_hours == pytest.approx(4 * trace.duration / 3600)
    assert result.sla_attainment > 0.99


def test_the_planner_scales_up_under_a_step_in_load() -> None:
    trace = synthetic_trace("step", 900, 2.0, amplitude=10.0, isl=3000, osl=100, seed=2)
    result = replay_config(sla_config(), trace, name="planner")
    assert result.scale_actions > 0
    assert max(p.prefill for p in result.timeline) > 1


def test_queue_aware_sizing_meets_ttft_under_bursts_where_the_mean_rate_formula_does_not() -> None:
    # 4 req/s of 8k-token prompts, tripled for 6 s of every minute: the mean rate fits one engine.
    trace = synthetic_trace("bursts", 1200, 4.0, amplitude=8.0, period_s=60, isl=8000, osl=60, seed=3)
    common = {"ttft_ms": 2000, "simulation": {"startup_delay_seconds": 30, "initial_prefill": 2, "initial_decode": 2}}
    queue = replay_config(sla_config(throughput_sizing="queue_aware", **common), trace)
    mean = replay_config(sla_config(throughput_sizing="dynamo", **common), trace)
    assert queue.ttft_attainment >= 0.99
    assert mean.ttft_attainment < 0.9


def replay_schedule(trace: Trace, oracle: OracleResult, fewer: tuple[int, int, int] | None = None) -> list[float]:
    """SLA attainment (TTFT 1 s, ITL 30 ms) per window of the oracle's fleets serving the whole trace,
    each window's fleet ready at its start; `fewer` = (window, prefill, decode) engines taken off one."""
    perf, settings = load_perf(sla_config()), SimSettings(startup_delay_s=0.0)
    first = oracle.windows[0]
    cluster = SimCluster(perf, trace.requests, {Role.PREFILL: first.prefill, Role.DECODE: first.decode}, settings)
    met = [[0, 0] for _ in oracle.windows]

    def count(request: SimRequest) -> None:
        tally = met[int(request.arrival // oracle.window_s)]
        tally[0] += 1
        tally[1] += all(targets_met(request.ttft_s, request.itl_s, 1000, 30))

    cluster.on_complete.append(count)
    for window in oracle.windows:
        less = fewer[1:] if fewer and fewer[0] == window.index else (0, 0)
        cluster.advance_to(math.nextafter(window.index * oracle.window_s, -math.inf))
        cluster.set_replicas(Role.PREFILL, window.prefill - less[0])
        cluster.set_replicas(Role.DECODE, window.decode - less[1])
    cluster.run_until_drained()
    return [ok / n for n, ok in met if n]


def test_the_oracles_fleets_serving_the_whole_trace_meet_the_sla_in_every_window() -> None:
    trace = synthetic_trace("constant", 180, 6.0, isl=6000, osl=80, seed=4)
    oracle = oracle_sizing(trace, load_perf(sla_config()), SimSettings(), window_s=60, ttft_ms=1000, itl_ms=30)
    assert all(window.feasible for window in oracle.windows)
    assert min(replay_schedule(trace, oracle)) >= 0.99
    assert oracle.gpu_hours > 0


def test_one_engine_fewer_than_the_oracles_misses_the_sla() -> None:
    trace = synthetic_trace("constant", 180, 6.0, isl=6000, osl=80, seed=4)
    oracle = oracle_sizing(trace, load_perf(sla_config()), SimSettings(), window_s=60, ttft_ms=1000, itl_ms=30)
    middle = oracle.windows[1]
    assert middle.prefill > 1
    assert replay_schedule(trace, oracle, fewer=(1, 1, 0))[1] < 0.99


def test_a_window_is_sized_with_the_previous_windows_requests_still_decoding() -> None:
    # Sized empty, every window of this long-output traffic took one decode engine: serving the trace
    # end to end, that schedule met the SLA for under 10 % of the requests of windows 1 to 4.
    trace = synthetic_trace("constant", 300, 12.0, isl=300, osl=800, seed=4)
    oracle = oracle_sizing(trace, load_perf(sla_config()), SimSettings(), window_s=60, ttft_ms=1000, itl_ms=30)
    assert min(replay_schedule(trace, oracle)) >= 0.99


def test_an_engine_the_oracle_adds_is_billed_from_a_start_up_before_it_serves() -> None:
    assert billed_engine_seconds([1, 2, 2], [60.0] * 3, startup_s=120.0) == (300.0, 120.0)


def test_the_oracles_first_window_fleet_is_there_at_the_start_as_every_policys_is() -> None:
    assert billed_engine_seconds([3, 3], [60.0] * 2, startup_s=120.0) == (360.0, 0.0)


def test_an_engine_the_oracle_needs_again_within_a_start_up_delay_is_kept_through_the_lull() -> None:
    assert billed_engine_seconds([2, 1, 2], [60.0] * 3, startup_s=120.0) == (300.0, 60.0)


def test_an_engine_the_oracle_needs_again_after_a_long_lull_is_started_again() -> None:
    assert billed_engine_seconds([2, 1, 1, 1, 2], [60.0] * 5, startup_s=120.0) == (420.0, 120.0)


def test_the_oracles_gpu_hours_include_starting_the_engines_it_adds() -> None:
    trace = synthetic_trace("sine", 1200, 6.0, amplitude=5.1, period_s=600, isl=8000, osl=80, seed=5)
    settings = SimSettings()
    oracle = oracle_sizing(trace, load_perf(sla_config()), settings, window_s=60, ttft_ms=1000, itl_ms=30)
    serving = sum(w.prefill * settings.prefill_gpus_per_engine + w.decode * settings.decode_gpus_per_engine
                  for w in oracle.windows) * 60 / 3600  # fmt: skip
    assert oracle.startup_gpu_hours > 0
    # The last window ends at the trace's last arrival, a few seconds short of a whole window.
    assert oracle.gpu_hours == pytest.approx(serving + oracle.startup_gpu_hours, rel=1e-3)


def test_several_configs_are_scored_side_by_side_against_one_oracle() -> None:
    trace = synthetic_trace("sine", 600, 3.0, amplitude=2.0, period_s=300, isl=2000, osl=80, seed=5)
    results, oracle = replay_configs(trace, [("a", sla_config()), ("b", sla_config(throughput_sizing="dynamo"))])
    assert [r.name for r in results] == ["a", "b"]
    assert oracle is not None
    assert all(r.oracle_gpu_hours == oracle.gpu_hours for r in results)


def test_the_replay_command_prints_a_table_and_writes_json_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fast.yaml").write_text(
        "optimization_target: sla\nthroughput_adjustment_interval_seconds: 30\n"
        "load_predictor: constant\nmax_gpu_budget: -1\n"
    )
    out, report = tmp_path / "out.json", tmp_path / "report.html"
    code = main([
        "replay", "--trace", str(DATA / "mooncake_conversation_head300.jsonl"), "--config", str(tmp_path / "fast.yaml"),
        "--rate-scale", "2", "--json", str(out), "--report", str(report),
    ])  # fmt: skip
    assert code == 0
    assert "fast" in capsys.readouterr().out
    document = json.loads(out.read_text())
    assert document["trace"].startswith("mooncake_conversation_head300.jsonl")
    assert set(document["results"][0]) == JSON_FIELDS
    assert document["results"][0]["requests"] == 600
    page = report.read_text()
    assert "Plotly.newPlot" in page
    assert "id='chart-replicas'" in page


def test_every_config_starts_from_the_oracles_first_window_unless_it_sets_its_own() -> None:
    trace = synthetic_trace("constant", 300, 8.0, isl=6000, osl=80, seed=6)
    own = sla_config(advisory=True, simulation={"initial_prefill": 5, "initial_decode": 5})
    results, oracle = replay_configs(trace, [("default", sla_config(advisory=True)), ("own", own)])
    assert oracle is not None
    assert oracle.first_fleet != (1, 1)
    assert (results[0].timeline[0].prefill, results[0].timeline[0].decode) == oracle.first_fleet
    assert (results[1].timeline[0].prefill, results[1].timeline[0].decode) == (5, 5)


def test_cold_start_keeps_the_configured_fleet() -> None:
    trace = synthetic_trace("constant", 300, 8.0, isl=6000, osl=80, seed=6)
    results, _ = replay_configs(trace, [("default", sla_config(advisory=True))], cold_start=True)
    assert (results[0].timeline[0].prefill, results[0].timeline[0].decode) == (1, 1)


def test_decisions_cut_by_the_gpu_budget_are_counted() -> None:
    trace = synthetic_trace("constant", 300, 16.0, isl=6000, osl=80, seed=6)  # needs 4 prefill engines or more
    result = replay_config(sla_config(max_gpu_budget=3), trace)
    assert result.cut_decisions > 0
    assert result.cuts["budget_capped"] > 0


def test_the_oracle_honours_the_gpu_budget_and_counts_the_windows_it_cannot_serve() -> None:
    trace = synthetic_trace("constant", 300, 8.0, isl=6000, osl=80, seed=6)
    perf = load_perf(sla_config())
    free = oracle_sizing(trace, perf, SimSettings(), window_s=60, ttft_ms=1000, itl_ms=30)
    capped = oracle_sizing(trace, perf, SimSettings(), window_s=60, ttft_ms=1000, itl_ms=30, max_gpus=2)
    assert free.infeasible == 0
    assert max(w.prefill + w.decode for w in free.windows) > 2
    assert all(w.prefill + w.decode <= 2 for w in capped.windows)
    assert capped.infeasible > 0
    assert capped.gpu_hours < free.gpu_hours


def test_the_replay_command_prints_the_start_fleet_the_oracle_and_the_cuts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "tight.yaml").write_text(
        "throughput_adjustment_interval_seconds: 30\nttft_ms: 1000\nmax_gpu_budget: 2\n"
    )
    trace = DATA / "mooncake_conversation_head300.jsonl"
    assert main(["replay", "--trace", str(trace), "--config", str(tmp_path / "tight.yaml"), "--rate-scale", "4"]) == 0
    out = capsys.readouterr().out
    assert "start fleet: " in out
    assert "the oracle's first window" in out
    assert "within max_gpu_budget=2" in out
    assert "infeasible" in out
    assert "tight: " in out
    assert "budget_capped" in out


def test_the_replay_command_refuses_a_bad_trace_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert main(["replay", "--trace", str(bad)]) == 2
    assert "bad.jsonl:1: missing key 'timestamp'" in capsys.readouterr().err


def test_the_replay_command_refuses_a_profile_that_does_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "replay", "--trace", str(DATA / "mooncake_conversation_head300.jsonl"), "--no-oracle",
        "--set", f"simulation.profile_results_dir={tmp_path}",
    ])  # fmt: skip
    assert code == 2
    assert "no prefill profiling data" in capsys.readouterr().err


def test_a_report_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    code = main([
        "replay", "--trace", str(DATA / "mooncake_conversation_head300.jsonl"), "--no-oracle",
        "--set", "optimization_target=sla", "--report", str(blocked / "report.html"),
    ])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"planner: cannot write the report {blocked / 'report.html'}")
