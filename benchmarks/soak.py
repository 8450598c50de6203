"""Soak: a simulated week (or `--days`) of the bundled Mooncake trace looped with drift and noise,
a seeded fault switched on in every simulated hour (connector conflicts, outages and hangs, the
observer down or answering garbage, a plugin hanging, crashing or answering nonsense), every tick
checked against the invariants (planner/sim/invariants.py), and the process's memory at each day's end.

    python benchmarks/soak.py [--days 7] [--rate-scale 0.1] [--seed 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from planner.sim.soak import run_soak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--rate-scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # a week of faults logs a lot; the counts say it
    result = run_soak(args.days, rate_scale=args.rate_scale, seed=args.seed)
    inv = result.invariants
    print(f"{result.days:g} simulated days, {result.requests} requests, {inv.ticks} ticks, {inv.applied} applied, "
          f"{result.wall_seconds:.0f} s wall")  # fmt: skip
    switched = ", ".join(f"{k} x{v}" for k, v in sorted(result.faults.items()))
    print(f"faults switched on: {sum(result.faults.values())} ({switched})")
    print(f"crashed: {result.crashed}; outside limits: {inv.outside_limits}; "
          f"duplicate applies: {inv.duplicate_applies}; id regressions: {inv.id_regressions}; "
          f"late applies: {inv.late_applies}")  # fmt: skip
    print("RSS at each day's end (MB): " + ", ".join(f"{mb:.0f}" for mb in result.rss_mb_by_day)
          + f"; growth day 1 -> last: {100 * result.rss_growth:+.1f} %")  # fmt: skip
    for problem in inv.problems[:10]:
        print(f"  ! {problem}")
    if args.json:
        args.json.write_text(json.dumps({**asdict(result), "rss_growth": result.rss_growth}, indent=2))


if __name__ == "__main__":
    main()
