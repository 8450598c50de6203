"""Start-up: wall time from launching `planner run` (the embedded default, as `make run` starts it)
to its first tick on record, and the daemon's resident memory then.

    python benchmarks/startup.py [--runs N] [--json OUT]

Each run is a fresh process; the first tick is the first line the decision record gets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from planner.sim.soak import rss_mb


def one_run(directory: Path) -> tuple[float, float]:
    record = directory / f"decisions-{time.monotonic_ns()}.jsonl"
    started = time.monotonic()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "planner", "run", "--set", f"decision_record_path={record}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = started + 60
        while not (record.exists() and record.read_text(encoding="utf-8").endswith("\n")):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the planner did not tick within 60 s")
            time.sleep(0.002)
        return time.monotonic() - started, rss_mb(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        runs = [one_run(Path(directory)) for _ in range(args.runs)]
    seconds, memory = [r[0] for r in runs], [r[1] for r in runs]
    print(f"{'':<24} {'median':>8} {'min':>8} {'max':>8}")
    print(f"{'first tick after (s)':<24} {statistics.median(seconds):>8.2f} {min(seconds):>8.2f} {max(seconds):>8.2f}")
    print(f"{'RSS at first tick (MB)':<24} {statistics.median(memory):>8.0f} {min(memory):>8.0f} {max(memory):>8.0f}")
    if args.json:
        args.json.write_text(json.dumps({"first_tick_seconds": seconds, "rss_mb": memory, "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
