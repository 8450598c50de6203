"""One scenario row, interval by interval: where a policy meets and misses its targets, and why.

    python benchmarks/minutes.py --scenario NAME [--target tight|loose] [--policy static|dynamo|planner]
    python benchmarks/minutes.py --variant NAME [--target tight|loose] [--policy ...]
    python benchmarks/minutes.py --trace NAME [--itl MS] [--policy ...]
                                 [--interval S] [--startup S] [--misses-only]

Runs the row as benchmarks/scenarios.py does (same oracle, same starting fleet, same configs) and
prints per interval: arrivals, the share meeting both targets, TTFT and ITL misses, the fleet
serving and asked for beside the oracle's, and the forecast path and margin the proposer sized for.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from planner.sim.breakdown import Breakdown, interval_breakdown
from planner.sim.compare import POLICIES, policy_setup
from planner.sim.scenarios import SCENARIOS, VARIANTS

sys.path.insert(0, str(Path(__file__).parent))
from replay import TARGETS  # the shared traces and their targets
from scenarios import row_trace  # the rows' traffic, as the scenario suite builds it

MARGIN = re.compile(r"with (\d+) more for forecast misses")


def breakdown(args: argparse.Namespace) -> tuple[str, Breakdown, float]:
    if args.scenario or args.variant:
        kind, name = ("scenario", args.scenario) if args.scenario else ("variant", args.variant)
        ttft, itl = getattr((SCENARIOS if args.scenario else VARIANTS)[name].mix, args.target)
        label, trace = f"{name} ({args.target})", row_trace(f"{kind}:{name}", 1.0)
    else:
        _, scale, ttft, itl = TARGETS[args.trace]
        label, trace, itl = f"{args.trace} x{scale:g}", row_trace(f"shared:{args.trace}", scale), args.itl or itl
    oracle, configs = policy_setup(trace, ttft, itl, args.interval, args.startup)
    result = interval_breakdown(dict(configs)[args.policy], trace, oracle, name=args.policy)
    return f"{label} TTFT {ttft:g} ms, ITL {itl:g} ms, {args.policy}", result, oracle.gpu_hours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--scenario", choices=sorted(SCENARIOS))
    source.add_argument("--variant", choices=sorted(VARIANTS), help="a row of `benchmarks/scenarios.py --variants`")
    source.add_argument("--trace", choices=sorted(TARGETS))
    parser.add_argument("--target", choices=["tight", "loose"], default="tight")
    parser.add_argument("--itl", type=float, help="ITL target (ms) for --trace instead of replay.py's")
    parser.add_argument("--policy", choices=POLICIES, default="planner")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--startup", type=float, default=120.0)
    parser.add_argument("--misses-only", action="store_true", help="only intervals under 99 %% attainment")
    args = parser.parse_args()
    if args.interval <= 0 or args.startup < 0:
        parser.error(f"--interval {args.interval:g} must be > 0 and --startup {args.startup:g} >= 0")
    title, result, oracle_gpu_hours = breakdown(args)
    score = result.result
    print(f"{title}: {score.gpu_hours:.2f} GPU-h ({score.gpu_hours / oracle_gpu_hours:.2f} x oracle), "
          f"SLA {100 * score.sla_attainment:.2f} %")  # fmt: skip
    print(f"{'t':>4} {'arrived':>7} {'met %':>6} {'TTFT x':>6} {'ITL x':>5} {'serving':>7} {'asked':>7} "
          f"{'oracle':>7} {'margin':>6}  forecast")  # fmt: skip
    for row in result.rows:
        attainment = row.attainment
        if args.misses_only and (attainment is None or attainment >= 0.99):
            continue
        margin = MARGIN.search(row.reason)
        oracle = f"{row.oracle[0]}P {row.oracle[1]}D" if row.oracle else "-"
        print(f"{row.index:>4} {row.arrivals:>7} {100 * (attainment or 0):>6.2f} {row.ttft_missed:>6} "
              f"{row.itl_missed:>5} {row.ready[0]:>2}P {row.ready[1]:>2}D {row.asked[0]:>2}P {row.asked[1]:>2}D "
              f"{oracle:>7} {margin.group(1) if margin else '-':>6}  "
              f"{' '.join(f'{n:.0f}' for n in row.forecast)}")  # fmt: skip


if __name__ == "__main__":
    main()
