"""The `planner` command: run the daemon, validate a config."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

import anyio
import yaml

from . import __version__
from .clock import Clock, ScaledClock, WallClock
from .config import PlannerConfig, load_config
from .daemon import Planner
from .errors import ConfigError, PlannerError
from .pipeline.record import to_jsonable
from .sim.score import score_requests

__all__ = ["main"]

log = logging.getLogger("planner")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="planner", description="Autoscaler for disaggregated LLM serving.")
    parser.add_argument("--version", action="version", version=f"planner {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def config_args(sub: argparse.ArgumentParser, file_required: bool) -> None:
        if file_required:
            sub.add_argument("config", metavar="FILE", help="YAML or JSON config file")
        else:
            sub.add_argument("--config", "-c", metavar="FILE", help="YAML or JSON config file")
        sub.add_argument(
            "--set",
            "-s",
            dest="overrides",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a setting, e.g. --set ttft_ms=300 --set scheduling.tick_max_duration_seconds=10",
        )

    run = commands.add_parser("run", help="run the planner daemon (the embedded simulation by default)")
    config_args(run, file_required=False)
    run.add_argument("--speed", type=float, help="embedded: simulated seconds per wall second")
    run.add_argument("--duration", type=float, help="embedded: stop after this many simulated seconds")
    run.add_argument("--trace", help="embedded: replay this trace instead of the bundled one")
    run.add_argument("--rate-scale", type=float, help="embedded: multiply the trace's load")
    run.add_argument("--advisory", action="store_true", help="decide and record, but apply nothing")

    validate = commands.add_parser("validate-config", help="print the effective config, or every error (exit 2)")
    config_args(validate, file_required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = list(args.overrides)
    if args.command == "run":
        for flag, key in (
            ("speed", "speed"),
            ("duration", "duration_seconds"),
            ("trace", "trace"),
            ("rate_scale", "rate_scale"),
        ):
            if getattr(args, flag) is not None:
                overrides.append(f"simulation.{key}={getattr(args, flag)}")
        if args.advisory:
            overrides.append("advisory=true")
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    if args.command == "validate-config":
        print(yaml.safe_dump(to_jsonable(config.model_dump()), sort_keys=False), end="")
        return 0
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        anyio.run(_run, config)
    except (ConfigError, PlannerError) as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(config: PlannerConfig) -> None:
    embedded = config.environment == "embedded"
    clock: Clock = ScaledClock(config.simulation.speed) if embedded else WallClock()
    async with Planner(config, clock=clock) as planner, anyio.create_task_group() as group:
        group.start_soon(_stop_on_signals, planner, group.cancel_scope)
        if planner.world is not None:
            world_end = planner.world.trace.duration
            group.start_soon(_stop_after, planner, clock, config.simulation.duration_seconds or world_end)
            group.start_soon(_summarise, planner, clock)
        log.info(
            "planner %s: environment=%s mode=%s optimization_target=%s, %d plugin(s): %s",
            __version__,
            config.environment,
            config.mode,
            config.optimization_target,
            len(planner.registry),
            ", ".join(sorted(p.id for p in planner.registry)),
        )
        stats = await planner.run()
        log.info("stopped after %d tick(s), %d slot(s) skipped", stats.ticks, stats.skipped_slots)
        group.cancel_scope.cancel()


async def _stop_on_signals(planner: Planner, scope: anyio.CancelScope) -> None:
    """First SIGINT/SIGTERM: finish the tick in flight, then stop. Second: cancel at once."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        first = True
        async for signum in signals:
            name = signal.Signals(signum).name
            if first:
                log.info("%s: finishing the tick in flight, then stopping", name)
                planner.stop()
                first = False
                continue
            log.warning("%s again: cancelling now (an apply in flight still completes)", name)
            scope.cancel()
            return


async def _stop_after(planner: Planner, clock: Clock, seconds: float) -> None:
    await clock.sleep_until(clock.monotonic() + seconds)
    planner.stop()


async def _summarise(planner: Planner, clock: Clock, every_seconds: float = 60.0) -> None:
    world = planner.world
    assert world is not None
    config = planner.config
    while True:
        await clock.sleep_until(clock.monotonic() + every_seconds)
        cluster = world.cluster
        cluster.advance_to(clock.monotonic())
        replicas = cluster.replicas()
        gpus = sum(c.expected * config.gpus_per_engine(r) for r, c in replicas.items())
        roles = ", ".join(f"{r.value} {c.ready}/{c.expected}" for r, c in replicas.items())
        done = [r for r in cluster.requests[: cluster.arrived] if r.finish >= 0]
        score = score_requests(done, config.ttft_ms, config.itl_ms)
        log.info(
            "summary t=%.0fs: %s ready/expected, %d GPU(s), %d/%d requests done, SLA met by %.1f%% "
            "(TTFT p99 %.0f ms, ITL p99 %.1f ms), %d decision(s)",
            clock.monotonic(), roles, gpus, len(done), cluster.arrived, 100 * score.sla_attainment,
            score.p99_ttft_ms, score.p99_itl_ms, planner.pipeline.last_decision_id,
        )  # fmt: skip
