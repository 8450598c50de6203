"""Replay quality and speed: GPU-hours and SLA attainment of three policies on every shared trace.

    python benchmarks/replay.py [--trace NAME ...] [--json OUT]

Per trace, scaled so the fleet spans several engines per role, three configurations run on the
simulated deployment (bundled H200 profile, 120 s engine start-up) against the oracle:
  static   a fixed fleet sized for the peak: the largest per-window oracle sizing, all hour long;
  dynamo   Dynamo's throughput planner: ARIMA prediction, the mean-rate replica formula, no load loop;
  planner  this planner with only the targets set (planner/sim/compare.py).
Dynamic policies start from the oracle's sizing of the first window. The SLA targets per trace
are ones the static fleet meets (see TARGETS): TTFT must leave room for the longest prompts.
benchmarks/scenarios.py scores the same policies on synthetic traffic too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from planner.sim.compare import compare_policies
from planner.sim.report import format_footer, format_table
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", action="append", choices=sorted(TARGETS), help="default: every shared trace")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    document: dict[str, Any] = {"traces": []}
    for name in args.trace or sorted(TARGETS):
        path, scale, ttft, itl = TARGETS[name]
        trace = scale_rate(load_trace(path), scale)
        comparison = compare_policies(name, trace, ttft, itl, interval_s=INTERVAL_S)
        results = list(comparison.results.values())
        print(format_table(f"{name} x{scale:g} (TTFT {ttft:g} ms, ITL {itl:g} ms)", results))
        oracle = comparison.oracle
        start = f"{oracle.first_fleet[0]}P/{oracle.first_fleet[1]}D (the oracle's first window) for dynamo and planner"
        print(format_footer(results, oracle, start))
        planner = comparison.results["planner"]
        print(
            f"static peak {oracle.peak_fleet[0]}P/{oracle.peak_fleet[1]}D, oracle search "
            f"{comparison.oracle_seconds:.1f} s; replay speed {planner.requests / planner.wall_seconds:,.0f} "
            "requests/s (planner)\n"
        )
        document["traces"].append({"trace": name, "rate_scale": scale, **comparison.as_json()})
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
