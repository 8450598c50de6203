"""builtin_load_predict through real ticks; idle intervals; warm start from a Mooncake trace."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from helpers import Observe, Propose, config, memory
from planner import Planner, TickRecord, VirtualClock
from planner_plugins.perf import BUNDLED_PROFILE_DIR
from planner_plugins.predict import LoadPredict, bucket_trace
from planner_plugins.traces import read_mooncake
from planner_sdk import ContextField, Observations, PlannerView, ProposeResult, Role, TickContext, TrafficObservation

DATA = Path(__file__).parent / "data"
SETTINGS = {"isl": 3000.0, "osl": 150.0, "load_predictor_log1p": False}
pytestmark = pytest.mark.anyio


def tick(plugin: LoadPredict, traffic: TrafficObservation) -> TickContext:
    view = PlannerView("disagg", (Role.PREFILL, Role.DECODE), "sla", 500, 50, -1, {}, {})
    return TickContext(1, 1, 0.0, view, observations=Observations(traffic=traffic))


def test_counts_are_normalised_to_the_plugins_interval() -> None:
    plugin = LoadPredict("constant", SETTINGS, interval_s=60)
    result = plugin.predict(tick(plugin, TrafficObservation(30, 100, 2000, 100)))
    assert result.predictions.num_requests == 200


def test_an_idle_interval_feeds_zero_and_carries_the_lengths() -> None:
    plugin = LoadPredict("constant", SETTINGS, interval_s=60)
    plugin.predict(tick(plugin, TrafficObservation(60, 100, 2000, 100)))
    result = plugin.predict(tick(plugin, TrafficObservation(60, 0, None, None)))
    assert result.predictions.num_requests == 0  # the fleet may shrink to its minimum
    assert (result.predictions.isl, result.predictions.osl) == (2000, 100)


def test_nan_observations_are_skipped_not_fed() -> None:
    plugin = LoadPredict("moving_average", SETTINGS, interval_s=60)
    plugin.predict(tick(plugin, TrafficObservation(60, 100, 2000, 100)))
    result = plugin.predict(tick(plugin, TrafficObservation(60, math.nan, math.nan, 300)))
    assert result.predictions.num_requests == 100
    assert result.predictions.isl == 2000


def test_before_any_lengths_are_seen_the_configured_ones_stand_in() -> None:
    plugin = LoadPredict("constant", SETTINGS, interval_s=60)
    result = plugin.predict(tick(plugin, TrafficObservation(60, 0, None, None)))
    assert (result.predictions.isl, result.predictions.osl) == (3000.0, 150.0)


def test_warm_start_buckets_match_a_direct_aggregation(tmp_path: Path) -> None:
    trace = read_mooncake(DATA / "mooncake_conversation_head300.jsonl")
    buckets = bucket_trace(trace, 10)
    direct: dict[int, list[tuple[int, int]]] = {}
    for r in trace.requests:
        direct.setdefault(int(r.arrival // 10), []).append((r.isl, r.osl))
    assert len(buckets) == max(direct) + 1
    for index, (count, isl, osl) in enumerate(buckets):
        rows = direct.get(index, [])
        assert count == len(rows)
        if rows:
            assert isl == pytest.approx(sum(i for i, _ in rows) / len(rows))
            assert osl == pytest.approx(sum(o for _, o in rows) / len(rows))


def test_warm_start_matches_the_shared_aggregation_where_it_is_present() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "traces"
    if not (shared / "aggregated" / "mooncake_conversation_60s.csv").exists():
        pytest.skip("../shared/traces is not beside this checkout")
    buckets = bucket_trace(read_mooncake(shared / "mooncake" / "conversation_trace.jsonl"), 60)
    with (shared / "aggregated" / "mooncake_conversation_60s.csv").open() as f:
        rows = list(csv.DictReader(f))
    for (count, isl, _), row in zip(buckets, rows, strict=False):
        assert count == int(row["num_requests"])
        assert isl == pytest.approx(float(row["avg_isl"]), abs=0.01)


def test_a_warm_started_plugin_forecasts_from_the_first_tick(tmp_path: Path) -> None:
    plugin = LoadPredict(
        "constant", SETTINGS, interval_s=10, warmup_trace=str(DATA / "mooncake_conversation_head300.jsonl")
    )
    assert plugin.warmed_intervals > 0
    assert plugin.predictors["num_requests"].forecast() is not None


def test_a_bad_warmup_trace_fails_at_construction_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "warm.jsonl"
    bad.write_text('{"timestamp": 0, "input_length": 1, "output_length": 1}\nbroken\n')
    with pytest.raises(Exception, match=r"warm.jsonl:2"):
        LoadPredict("constant", SETTINGS, 60, warmup_trace=str(bad))
    assert LoadPredict("constant", SETTINGS, 60, warmup_trace=str(bad), lenient=True).warmed_intervals == 1


async def test_the_builtins_run_in_real_ticks_from_their_entry_point() -> None:
    """Discovered through `planner.plugins` as a deployment would load them."""
    clock = VirtualClock()
    traffic = Observe("traffic", Observations(traffic=TrafficObservation(5, 40, 2500, 120)))
    probe = Propose("probe", ProposeResult.accept(), needs=frozenset({ContextField.PREDICTIONS}))
    records: list[TickRecord] = []
    cfg = config(
        optimization_target="sla",
        throughput_adjustment_interval_seconds=5,
        load_predictor="constant",
        profile_results_dir=str(BUNDLED_PROFILE_DIR),
    )
    async with Planner(
        cfg, clock=clock, connector=memory(clock), plugins=[traffic, probe], on_record=records.append
    ) as p:
        assert {"builtin_load_predict", "builtin_throughput_propose"} <= {e.id for e in p.registry}
        async with clock.autojump():
            await p.run(max_ticks=2)
    assert records[0].predictions is not None
    assert records[0].predictions.num_requests == 40
    assert probe.calls[0].predictions.isl == 2500
    assert records[0].outcome in ("applied", "no_change")


def test_a_window_much_shorter_than_the_interval_is_not_extrapolated() -> None:
    plugin = LoadPredict("constant", SETTINGS, interval_s=60)
    result = plugin.predict(tick(plugin, TrafficObservation(0.5, 3, 2000, 100)))  # 3 requests in half a second
    assert result.predictions.num_requests is None  # not 360 per minute
