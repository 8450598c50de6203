"""One-step-ahead forecast accuracy of every load predictor on real traces.

    python benchmarks/forecast.py [--trace FILE ...] [--interval 60 --interval 180] [--json OUT]

Reads the raw traces (Mooncake JSONL, Azure CSV), aggregates them itself per interval (the
trailing, partly observed interval dropped), and for every series (request count, mean ISL,
mean OSL) feeds each predictor one interval at a time, scoring its forecast of the next.
Idle intervals feed a zero count and are not scored for ISL/OSL, as the plugin does.
Prints MAPE (over non-zero actuals), WAPE (sum |error| / sum actual) and ms per update.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import time
from pathlib import Path

from planner_plugins.predict import PREDICTORS, bucket_trace, make_predictor
from planner_plugins.traces import load_trace

SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
DEFAULT_TRACES = [
    SHARED / "mooncake" / "conversation_trace.jsonl",
    SHARED / "mooncake" / "synthetic_trace.jsonl",
    SHARED / "azure_llm_2023" / "AzureLLMInferenceTrace_code.csv",
]
SETTINGS = {"load_predictor_log1p": False, "kalman_q_level": 1.0, "kalman_q_trend": 0.1, "kalman_r": 10.0}
DEFAULT = "ensemble"


def series_of(path: Path, interval: float) -> dict[str, list[float | None]]:
    trace = load_trace(path)
    buckets = bucket_trace(trace, interval)
    if trace.duration % interval:  # the last interval was only partly observed
        buckets = buckets[:-1]
    return {
        "num_req": [float(n) for n, _, _ in buckets],
        "isl": [isl for _, isl, _ in buckets],
        "osl": [osl for _, _, osl in buckets],
    }


def evaluate(name: str, values: list[float | None], interval: float) -> tuple[float, float, float]:
    predictor = make_predictor(name, SETTINGS, interval)
    errors: list[tuple[float, float]] = []
    spent = 0.0
    updates = 0
    guess: float | None = None
    for value in values:
        if value is None:
            continue  # an idle interval says nothing about lengths
        if guess is not None:
            errors.append((abs(guess - value), value))
        started = time.perf_counter()
        predictor.observe(value)
        guess = predictor.forecast()
        spent += time.perf_counter() - started
        updates += 1
    total = sum(actual for _, actual in errors)
    wape = sum(e for e, _ in errors) / total if total else math.nan
    nonzero = [e / a for e, a in errors if a]
    mape = sum(nonzero) / len(nonzero) if nonzero else math.nan
    return mape, wape, spent / max(updates, 1) * 1000.0


def mean_wape(rows: list[dict[str, object]], predictor: str, trace: str | None = None) -> float:
    mine = [float(r["wape"]) for r in rows if r["predictor"] == predictor and trace in (None, r["trace"])]  # type: ignore[arg-type]
    return sum(mine) / len(mine)


def summarise(rows: list[dict[str, object]], predictors: list[str]) -> None:
    """Mean WAPE over every trace, interval and series; then per trace, against the best single predictor."""
    singles = [p for p in predictors if p != DEFAULT]
    print(f"{'predictor':<15} {'mean WAPE':>10} {'ms/update':>10}")
    for predictor in predictors:
        ms = [float(r["ms_per_update"]) for r in rows if r["predictor"] == predictor]  # type: ignore[arg-type]
        print(f"{predictor:<15} {mean_wape(rows, predictor):>10.4f} {sum(ms) / len(ms):>10.3f}")
    if DEFAULT in predictors and singles:
        best = min(singles, key=lambda p: mean_wape(rows, p))
        ratio = mean_wape(rows, DEFAULT) / mean_wape(rows, best)
        print(f"\n{DEFAULT} / best single ({best}): {ratio:.3f}  (target <= 0.95)")
        for trace in sorted({str(r["trace"]) for r in rows}):
            best_here = min(singles, key=lambda p: mean_wape(rows, p, trace))
            ratio = mean_wape(rows, DEFAULT, trace) / mean_wape(rows, best_here, trace)
            print(f"  {trace:<36} vs best in hindsight ({best_here}): {ratio:.3f}  (target <= 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", action="append", type=Path, help="a trace file (default: the shared traces)")
    parser.add_argument("--interval", action="append", type=float, help="aggregation interval in s (default 60, 180)")
    parser.add_argument("--predictor", action="append", help="predictors to score (default: all available)")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    traces = args.trace or DEFAULT_TRACES
    intervals = args.interval or [60.0, 180.0]
    available = [p for p in PREDICTORS if p != "prophet" or importlib.util.find_spec("prophet")]
    predictors = args.predictor or available
    rows = []
    print(f"{'trace':<36} {'s':>4} {'series':<8} {'predictor':<15} {'MAPE':>8} {'WAPE':>8} {'ms/upd':>8}")
    for path in traces:
        for interval in intervals:
            series = series_of(path, interval)
            if len(series["num_req"]) < 3:
                continue
            for name, values in series.items():
                for predictor in predictors:
                    mape, wape, ms = evaluate(predictor, values, interval)
                    rows.append({
                        "trace": path.name, "interval_s": interval, "series": name, "predictor": predictor,
                        "mape": round(mape, 4), "wape": round(wape, 4), "ms_per_update": round(ms, 4),
                    })  # fmt: skip
                    scores = f"{mape:>8.3f} {wape:>8.3f} {ms:>8.3f}"
                    print(f"{path.name:<36} {interval:>4.0f} {name:<8} {predictor:<15} {scores}")
    print()
    summarise(rows, predictors)
    if args.json:
        Path(args.json).write_text(json.dumps({"default_predictor": DEFAULT, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
