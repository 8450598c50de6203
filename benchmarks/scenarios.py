"""Scenario suite: the planner's default on traffic the shared traces do not cover, against the oracle.

    python benchmarks/scenarios.py [--scenario NAME ...] [--target tight|loose] [--no-shared]
                                   [--peak-scale X] [--interval S] [--startup S] [--jobs N] [--json OUT]
                                   [--policy static|dynamo|planner ...] [--variants]

Each scenario (planner/sim/scenarios.py: steady, steps, a ramp, periodic loads of 5 to 60 minutes,
on-off bursts, decode-heavy and prefill-heavy mixes) runs at a tight target (close to what one H200
engine does at all) and a loose one; then the shared traces at benchmarks/replay.py's targets and
Mooncake conversation at ITL 30 ms. `--variants` runs the same kinds of traffic at other periods,
ratios, mixes and burst lengths instead (VARIANTS; no shared traces): the check that a change tuned on
the suite holds beyond it. Three policies run on the simulated deployment (bundled H200
profile, 120 s engine start-up, 60 s interval): a static peak fleet, Dynamo-style, and the planner
with only the targets set. The last column names the targets a row misses:
  SLA >= 99 % at <= 1.15 x the oracle's GPU-hours (bursts shorter than a start-up: <= 0.6 x static);
  never worse than static on cost and SLA at once; at most one scale action per role per start-up
  on average; at least Dynamo-style's attainment.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from planner.errors import PlannerError
from planner.sim.compare import POLICIES, Comparison, compare_policies, judge
from planner.sim.scenarios import SCENARIOS, VARIANTS, ScenarioError, scenario_trace
from planner_plugins.traces import Trace, load_trace, scale_rate

sys.path.insert(0, str(Path(__file__).parent))
from replay import TARGETS  # the shared traces and their targets

Job = tuple[str, str, float, float, float, float, float, bool, tuple[str, ...]]
"""(label, source, peak scale or rate scale, TTFT, ITL, interval, start-up, bursts, policies)"""


def _jobs(args: argparse.Namespace) -> list[Job]:
    jobs: list[Job] = []
    # The checks are the planner's: it always runs, beside whichever others are asked for.
    policies = tuple(p for p in POLICIES if p in (args.policy or POLICIES) or p == "planner")
    kind, scenarios = ("variant", VARIANTS) if args.variants else ("scenario", SCENARIOS)
    for name in args.scenario or list(scenarios):
        if name not in scenarios:
            raise ScenarioError(f"--scenario {name!r} is not one of {', '.join(sorted(scenarios))}")
        scenario = scenarios[name]
        for target in args.target or ["tight", "loose"]:
            ttft, itl = getattr(scenario.mix, target)
            label = f"{name} ({target})"
            jobs.append((label, f"{kind}:{name}", args.peak_scale, ttft, itl, args.interval, args.startup,
                         scenario.bursts, policies))  # fmt: skip
    if not args.no_shared and not args.scenario and not args.variants:
        for name, (_, scale, ttft, itl) in sorted(TARGETS.items()):
            bursts = name == "azure_code"  # its spikes last seconds: shorter than any start-up
            jobs.append((f"{name} x{scale:g}", f"shared:{name}", scale, ttft, itl, args.interval, args.startup, bursts,
                         policies))  # fmt: skip
        _, scale, ttft, _ = TARGETS["mooncake_conversation"]
        jobs.append((f"mooncake_conversation x{scale:g} ITL 30", "shared:mooncake_conversation", scale, ttft, 30.0,
                     args.interval, args.startup, False, policies))  # fmt: skip
    return jobs


def row_trace(source: str, scale: float) -> Trace:
    """The traffic of a row: `scenario:NAME` or `variant:NAME` at `scale` times its peak rate, or
    `shared:NAME` at `scale` times its rate."""
    kind, name = source.split(":", 1)
    if kind in ("scenario", "variant"):
        scenario = (SCENARIOS if kind == "scenario" else VARIANTS)[name]
        return scenario_trace(replace(scenario, peak_rate=scenario.peak_rate * scale))
    return scale_rate(load_trace(TARGETS[name][0]), scale)


def run_job(job: Job) -> Comparison:
    label, source, scale, ttft, itl, interval, startup, bursts, policies = job
    trace = row_trace(source, scale)
    return compare_policies(label, trace, ttft, itl, interval_s=interval, startup_s=startup, bursts=bursts,
                            policies=policies)  # fmt: skip


def _row(c: Comparison) -> str:
    cells = [f"{c.label[:38]:<38}", f"{c.ttft_ms:>6g}", f"{c.itl_ms:>4g}", f"{c.oracle.gpu_hours:>6.2f}",
             f"{c.oracle.infeasible:>3}"]  # fmt: skip
    for name in POLICIES:
        r = c.results.get(name)
        cells.append(f"{'-':>12}" if r is None else f"{c.ratio(name):>5.2f} {100 * r.sla_attainment:>6.2f}")
    cells.append(f"{c.actions_per_startup('planner'):>5.2f}")
    cells.append(f"{c.results['planner'].cut_decisions:>3}")
    checks = judge(c)
    cells.append("ok" if checks.ok else "MISS: " + "; ".join(checks.failed))
    return " ".join(cells)


HEADER = (
    f"{'scenario (target)':<38} {'TTFT':>6} {'ITL':>4} {'oracle':>6} {'inf':>3} "
    f"{'static x / SLA%':>12} {'dynamo x / SLA%':>12} {'planner x / SLA%':>12} {'act/su':>5} {'cut':>3} checks"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help=f"default: all; one of {', '.join(SCENARIOS)} (with --variants: {', '.join(VARIANTS)})",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="the suite's kinds of traffic at other periods, ratios, mixes and burst lengths",
    )
    parser.add_argument("--target", action="append", choices=["tight", "loose"], help="default: both")
    parser.add_argument("--no-shared", action="store_true", help="skip the shared traces")
    parser.add_argument("--peak-scale", type=float, default=1.0, help="multiply every scenario's peak rate")
    parser.add_argument("--interval", type=float, default=60.0, help="throughput_adjustment_interval_seconds")
    parser.add_argument("--startup", type=float, default=120.0, help="simulated engine start-up delay, s")
    parser.add_argument("--jobs", type=int, default=2, help="processes to run rows in")
    parser.add_argument("--policy", action="append", choices=POLICIES,
                        help="default: all (the planner always runs); `--policy planner` alone runs the suite in "
                             "about four minutes (Dynamo's ARIMA is the slow one), leaving out the checks against "
                             "the others")  # fmt: skip
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    for flag, value, low in (("--peak-scale", args.peak_scale, 1e-3), ("--interval", args.interval, 1.0),
                             ("--startup", args.startup, 0.0), ("--jobs", args.jobs, 1)):  # fmt: skip
        if not value >= low:
            print(f"scenarios: {flag}={value!r} must be >= {low:g}", file=sys.stderr)
            return 2
    try:
        jobs = _jobs(args)
    except ScenarioError as exc:
        print(f"scenarios: {exc}", file=sys.stderr)
        return 2
    print(HEADER)
    print("-" * len(HEADER))
    comparisons: list[Comparison] = []
    try:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for comparison in pool.map(run_job, jobs):
                comparisons.append(comparison)
                print(_row(comparison), flush=True)
    except (ScenarioError, PlannerError) as exc:
        print(f"scenarios: {exc}", file=sys.stderr)
        return 2
    missed = sum(not judge(c).ok for c in comparisons)
    # Per policy: the 5,000 requests/s target is the planner's; Dynamo's ARIMA refits are the slow column.
    speeds: dict[str, float] = {}
    for result in (r for c in comparisons for r in c.results.values() if r.wall_seconds > 0):
        speeds[result.name] = min(speeds.get(result.name, math.inf), result.requests / result.wall_seconds)
    print(f"\n{len(comparisons) - missed}/{len(comparisons)} rows meet every target; replay speed min (requests/s): "
          + ", ".join(f"{name} {speed:,.0f}" for name, speed in speeds.items()))  # fmt: skip
    if args.json:
        document: dict[str, Any] = {"rows": [c.as_json() for c in comparisons]}
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
