"""Replay quality and speed: GPU-hours and SLA attainment of three policies on every shared trace.

    python benchmarks/replay.py [--trace NAME ...] [--json OUT]

Per trace, scaled so the fleet spans several engines per role, three configurations run on the
simulated deployment (bundled H200 profile, 120 s engine start-up) against the oracle:
  static   a fixed fleet sized for the peak: the largest per-window oracle sizing, all hour long;
  dynamo   Dynamo's throughput planner: ARIMA prediction, the mean-rate replica formula, no load loop;
  planner  this planner's defaults for SLA targets: ensemble prediction and queue-aware sizing.
Dynamic policies start from the oracle's sizing of the first window. The SLA targets per trace
are ones the static fleet meets (see TARGETS): TTFT must leave room for the longest prompts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from planner.config import PlannerConfig
from planner.sim.oracle import oracle_sizing
from planner.sim.replay import ReplayResult, replay_config
from planner.sim.report import format_table
from planner.sim.world import load_perf, simulation_settings
from planner_plugins.traces import load_trace, scale_rate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"

# trace name -> (file, rate scale, TTFT ms, ITL ms). Mooncake prompts reach 126k-191k tokens,
# whose prefill alone takes 3-4.5 s on one H200, so their TTFT target must allow for it.
TARGETS: dict[str, tuple[Path, float, float, float]] = {
    "mooncake_conversation": (SHARED / "mooncake" / "conversation_trace.jsonl", 5.0, 3000.0, 25.0),
    "mooncake_synthetic": (SHARED / "mooncake" / "synthetic_trace.jsonl", 5.0, 5000.0, 25.0),
    "azure_code": (SHARED / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv", 20.0, 2000.0, 25.0),
}
INTERVAL_S = 60.0


def configs(ttft: float, itl: float, peak: tuple[int, int], first: tuple[int, int]) -> list[tuple[str, PlannerConfig]]:
    common: dict[str, Any] = {
        "ttft_ms": ttft, "itl_ms": itl, "max_gpu_budget": -1, "throughput_adjustment_interval_seconds": INTERVAL_S,
    }  # fmt: skip
    start = {"initial_prefill": first[0], "initial_decode": first[1]}
    peak_fleet = {"initial_prefill": peak[0], "initial_decode": peak[1]}
    dynamo = {"optimization_target": "sla", "load_predictor": "arima", "throughput_sizing": "dynamo"}
    return [
        ("static", PlannerConfig(**common, advisory=True, simulation=peak_fleet)),
        ("dynamo", PlannerConfig(**common, **dynamo, simulation=start)),
        ("planner", PlannerConfig(**common, optimization_target="sla", simulation=start)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", action="append", choices=sorted(TARGETS), help="default: every shared trace")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    document: dict[str, Any] = {"traces": []}
    for name in args.trace or sorted(TARGETS):
        path, scale, ttft, itl = TARGETS[name]
        trace = scale_rate(load_trace(path), scale)
        probe = PlannerConfig(ttft_ms=ttft, itl_ms=itl)
        started = time.perf_counter()
        oracle = oracle_sizing(
            trace, load_perf(probe), simulation_settings(probe), window_s=INTERVAL_S, ttft_ms=ttft, itl_ms=itl
        )
        oracle_s = time.perf_counter() - started
        peak = (max(w.prefill for w in oracle.windows), max(w.decode for w in oracle.windows))
        first = (oracle.windows[0].prefill, oracle.windows[0].decode)
        results: list[ReplayResult] = []
        for label, config in configs(ttft, itl, peak, first):
            result = replay_config(config, trace, name=label)
            result.oracle_gpu_hours = oracle.gpu_hours
            results.append(result)
        print(format_table(f"{name} x{scale:g} (TTFT {ttft:g} ms, ITL {itl:g} ms)", results))
        infeasible = sum(not w.feasible for w in oracle.windows)
        print(
            f"oracle: {oracle.gpu_hours:.2f} GPU-h over {len(oracle.windows)} windows of {INTERVAL_S:g} s "
            f"({infeasible} infeasible), static peak {peak[0]}P/{peak[1]}D, search {oracle_s:.1f} s; "
            f"replay speed {results[-1].requests / results[-1].wall_seconds:,.0f} requests/s (planner)\n"
        )
        document["traces"].append({
            "trace": name, "rate_scale": scale, "ttft_ms": ttft, "itl_ms": itl, "oracle_gpu_hours": oracle.gpu_hours,
            "oracle_seconds": oracle_s, "results": [r.as_json() for r in results],
        })  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
