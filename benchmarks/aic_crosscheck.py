"""AIConfigurator's model of an engine against that engine's measured profile: the shipped H200 profile
(Dynamo's, Llama-3.1-8B on one H200) against aiconfigurator-core's Llama-3.1-8B on h200_sxm.

    python benchmarks/aic_crosscheck.py [--backend vllm] [--backend-version current] [--json OUT]

Prints TTFT at each profiled input length, ITL at each profiled decode point (matched by the tokens in
the KV cache), the KV capacities, and the median absolute error of each. The measured profile stays the
default wherever both are configured: this table is why.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from planner_plugins.perf import BUNDLED_PROFILE_DIR, load_profile
from planner_plugins.perf.aic import AicSpec, aic_perf_model
from planner_plugins.perf.crosscheck import cross_check

MODEL = "meta-llama/Meta-Llama-3.1-8B"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="vllm", choices=["vllm", "sglang", "trtllm"])
    parser.add_argument("--backend-version", default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    spec = AicSpec(MODEL, "h200_sxm", args.backend, args.backend_version)
    check = cross_check(load_profile(BUNDLED_PROFILE_DIR), aic_perf_model(spec))
    print(f"measured: {BUNDLED_PROFILE_DIR.name} (bundled)   modelled: aiconfigurator-core, {spec.describe()}")
    print(f"\n{'ISL':>7} {'TTFT measured ms':>17} {'AIC ms':>8} {'error':>7}")
    for p in check.of("ttft"):
        print(f"{p.isl:>7.0f} {p.measured_ms:>17.1f} {p.modelled_ms:>8.1f} {100 * p.error:>+6.0f}%")
    print(f"\n{'context':>7} {'KV tokens':>10} {'ITL measured ms':>16} {'AIC ms':>8} {'error':>7}")
    for p in check.of("itl"):
        print(
            f"{p.isl:>7.0f} {p.kv_tokens:>10,.0f} {p.measured_ms:>16.2f} {p.modelled_ms:>8.2f} {100 * p.error:>+6.0f}%"
        )
    print(f"\nKV capacity: measured {check.measured_kv_tokens:,} tokens, AIC {check.modelled_kv_tokens:,} "
          f"({100 * check.kv_error:+.1f} %)")  # fmt: skip
    print(f"median |error|: TTFT {100 * check.median_abs_error('ttft'):.0f} %, "
          f"ITL {100 * check.median_abs_error('itl'):.0f} %")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({
            "spec": spec.describe(), "points": [{**asdict(p), "error": p.error} for p in check.points],
            "measured_kv_tokens": check.measured_kv_tokens, "modelled_kv_tokens": check.modelled_kv_tokens,
        }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
