"""A planner that starts with no engine model (engine_model: learnt) against the one given the true
profile, on the same traffic and the same simulated engines.

    python benchmarks/learnt_model.py [--case NAME ...] [--json OUT]

Per case: when the learnt model was first trusted (decisions before that are withheld as
model_not_ready and the fleet holds), when it first came within 5 % of the engines' true TTFT and
ITL where the traffic runs them, and from when it stayed there; then GPU-hours and SLA attainment of
both planners over the whole run and from that convergence on. Both start from the oracle's first
window's fleet (as benchmarks/replay.py does).

The learnt planner observes the engines every load interval (its samples), so its 60 s loops fall in
other slots than a profiled planner observing once a minute: on bursty traffic that phase alone moves
GPU-hours by a few per cent either way. The profiled planner it is judged against therefore observes at
the same cadence (`observe_interval_seconds`); the profiled planner at its default cadence is shown too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from planner.config import PlannerConfig
from planner.sim.learning import CONVERGED, gpu_hours_between, learning_replay
from planner.sim.replay import oracle_for, replay_config, starting_from
from planner.sim.scenarios import SCENARIOS, scenario_trace
from planner_plugins.traces import Trace, load_trace, scale_rate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"
INTERVAL_S = 60.0


def cases() -> dict[str, tuple[Trace, float, float]]:
    """name -> (trace, TTFT ms, ITL ms): two shared traces at benchmarks/replay.py's settings, two scenarios."""
    found: dict[str, tuple[Trace, float, float]] = {}
    conversation = SHARED / "mooncake" / "conversation_trace.jsonl"
    if conversation.exists():
        found["mooncake_conversation x5"] = (scale_rate(load_trace(conversation), 5.0), 3000.0, 25.0)
    synthetic = SHARED / "mooncake" / "synthetic_trace.jsonl"
    if synthetic.exists():
        found["mooncake_synthetic x5"] = (scale_rate(load_trace(synthetic), 5.0), 5000.0, 25.0)
    for name in ("periodic_30min", "decode_heavy"):
        scenario = SCENARIOS[name]
        found[f"{name} (loose)"] = (scenario_trace(scenario), *scenario.mix.loose)
    return found


def minutes(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds / 60:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    everything = cases()
    parser.add_argument("--case", action="append", choices=sorted(everything), help="default: all")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    print(f"{'case':<28} {'trusted':>7} {'5%':>5} {'stays':>5} {'withheld':>8} {'profiled GPU-h/SLA%':>20} "
          f"{'learnt GPU-h/SLA%':>18} {'x':>6} {'after conv. x':>13} {'default-cadence profiled':>25}")  # fmt: skip
    for name in args.case or list(everything):
        trace, ttft, itl = everything[name]
        base = PlannerConfig(
            ttft_ms=ttft, itl_ms=itl, max_gpu_budget=-1, throughput_adjustment_interval_seconds=INTERVAL_S
        )
        base = starting_from(base, oracle_for(base, trace).first_fleet)
        learning = base.model_copy(update={"engine_model": "learnt"})
        default_cadence = replay_config(base, trace)
        same_cadence = base.model_copy(update={"observe_interval_seconds": learning.observe_interval_effective})
        profiled = replay_config(same_cadence, trace)
        learnt = learning_replay(learning, trace)
        trusted = next((p.t for p in learnt.points if p.ready), None)
        within = next(
            (p.t for p in learnt.points if p.ready and max(p.ttft_error or 1, p.itl_error or 1) <= CONVERGED), None
        )
        stays = learnt.converged_at
        gpus = (base.prefill_engine_num_gpu, base.decode_engine_num_gpu)
        after = stays if stays is not None else trace.duration
        tail_learnt = gpu_hours_between(learnt.replay.timeline, after, trace.duration, gpus)
        tail_profiled = gpu_hours_between(profiled.timeline, after, trace.duration, gpus)
        tail = tail_learnt / tail_profiled if tail_profiled > 0 else float("nan")
        ratio = learnt.replay.gpu_hours / profiled.gpu_hours
        after_text = f"{tail:.3f}" if stays is not None and tail_profiled > 0 else "-"
        print(f"{name:<28} {minutes(trusted):>7} {minutes(within):>5} {minutes(stays):>5} {learnt.withheld:>8} "
              f"{profiled.gpu_hours:>10.2f}/{100 * profiled.sla_attainment:>6.2f} "
              f"{learnt.replay.gpu_hours:>9.2f}/{100 * learnt.replay.sla_attainment:>6.2f} {ratio:>6.3f} "
              f"{after_text:>13} {default_cadence.gpu_hours:>10.2f}/{100 * default_cadence.sla_attainment:>6.2f} "
              f"x {learnt.replay.gpu_hours / default_cadence.gpu_hours:.3f}")  # fmt: skip
        last = learnt.points[-1] if learnt.points else None
        rows.append({
            "case": name, "trusted_s": trusted, "within_5pct_s": within, "stays_within_s": stays,
            "withheld": learnt.withheld, "profiled_gpu_hours": profiled.gpu_hours,
            "profiled_sla": profiled.sla_attainment, "learnt_gpu_hours": learnt.replay.gpu_hours,
            "learnt_sla": learnt.replay.sla_attainment, "ratio": ratio, "ratio_after_convergence": tail,
            "default_cadence_gpu_hours": default_cadence.gpu_hours,
            "default_cadence_sla": default_cadence.sla_attainment,
            "final_ttft_error": last.ttft_error if last else None, "final_itl_error": last.itl_error if last else None,
        })  # fmt: skip
    print(
        "\ntrusted / 5% / stays: minutes into the trace; x: learnt GPU-hours over profiled (observing as often)."
        " The errors judged are"
        " the median |relative error| of TTFT at half to twice the mean prompt\nand of ITL at the mean context over"
        " the KV loads the engines ran at (planner.sim.learning.model_error)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
