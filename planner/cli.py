"""The `planner` command: run the daemon, validate a config."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import yaml

from . import __version__
from .clock import Clock, ScaledClock, WallClock
from .config import PlannerConfig, load_config
from .daemon import Planner, planned_base_cadence
from .errors import ConfigError, PlannerError
from .health import health_routes
from .http_server import Route, serve_routes
from .observability.dashboard import dashboard_routes
from .observability.logs import configure_logging
from .pipeline.record import to_jsonable
from .sim.metrics import FrontendMetrics, serve_frontend_metrics

__all__ = ["main"]

log = logging.getLogger("planner")

DEMO_CONFIG = Path(__file__).parent / "sim" / "data" / "demo.yaml"
"""`planner run` with no --config on the embedded deployment: the recommended SLA setup."""


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
    run.add_argument("--metrics-port", type=int, help="embedded: serve the frontend's Prometheus /metrics here")
    run.add_argument("--advisory", action="store_true", help="decide and record, but apply nothing")

    replay = commands.add_parser("replay", help="score configs on a trace against the simulated deployment")
    replay.add_argument("--trace", required=True, help="Mooncake .jsonl[.gz] or Azure .csv trace (file, dir or glob)")
    replay.add_argument(
        "--config", "-c", action="append", default=[], metavar="FILE", help="a config to score (repeat)"
    )
    replay.add_argument("--set", "-s", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    replay.add_argument("--rate-scale", type=float, default=1.0, help="multiply the load, keeping the timeline")
    replay.add_argument("--seed", type=int, default=0, help="seed of the rate scaling")
    replay.add_argument("--lenient", action="store_true", help="skip (and count) bad trace lines")
    replay.add_argument("--no-oracle", action="store_true", help="skip the oracle search")
    replay.add_argument(
        "--cold-start", action="store_true", help="start each config from its configured fleet, not the oracle's first"
    )
    replay.add_argument("--json", metavar="OUT", help="write the results as JSON")
    replay.add_argument("--report", metavar="OUT.html", help="write an HTML report")

    plugins = commands.add_parser("plugins", help="inspect a running planner's plugin registry")
    plugin_commands = plugins.add_subparsers(dest="plugins_command", required=True)
    listing = plugin_commands.add_parser("list", help="registered plugins with stage, priority, circuit, latency")
    listing.add_argument("--registry", required=True, metavar="ADDR", help="host:port or unix:///path")
    listing.add_argument("--token", help="bearer token (default: $PLANNER_PLUGIN_TOKEN)")

    validate = commands.add_parser("validate-config", help="print the effective config, or every error (exit 2)")
    config_args(validate, file_required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "replay":
        return _replay(args)
    if args.command == "plugins":
        return _list_plugins(args.registry, args.token or os.environ.get("PLANNER_PLUGIN_TOKEN"))
    overrides = list(args.overrides)
    if args.command == "run":
        for flag, key in (
            ("speed", "speed"),
            ("duration", "duration_seconds"),
            ("trace", "trace"),
            ("rate_scale", "rate_scale"),
            ("metrics_port", "metrics_port"),
        ):
            if getattr(args, flag) is not None:
                overrides.append(f"simulation.{key}={getattr(args, flag)}")
        if args.advisory:
            overrides.append("advisory=true")
    try:
        config = load_config(args.config, overrides)
        if args.command == "run" and args.config is None and config.environment == "embedded":
            config = load_config(DEMO_CONFIG, overrides)
    except ConfigError as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    if args.command == "validate-config":
        shown = config.redacted_dump()
        try:
            shown["scheduling"]["scale_interval_seconds"] = planned_base_cadence(config)
        except PlannerError as exc:  # a configured plugin that cannot be built is a config error too
            print(f"planner: {exc}", file=sys.stderr)
            return 2
        print(yaml.safe_dump(to_jsonable(shown), sort_keys=False), end="")
        for level, message in config.notices():
            print(f"planner: {level}: {message}", file=sys.stderr)
        return 0
    configure_logging(config.log_level, config.log_format, sys.stderr)
    try:
        anyio.run(_run, config)
    except (ConfigError, PlannerError) as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    return 0


def _replay(args: argparse.Namespace) -> int:
    from planner_plugins.traces import TraceError, load_trace, scale_rate

    from .sim.replay import replay_configs
    from .sim.report import format_footer, format_table, write_html, write_json

    try:
        named = [(Path(path).stem, load_config(path, args.overrides)) for path in args.config]
        configs = named or [("default", load_config(None, args.overrides))]
        trace = scale_rate(load_trace(args.trace, lenient=args.lenient), args.rate_scale, seed=args.seed)
    except (ConfigError, TraceError) as exc:
        print(f"planner: {exc}", file=sys.stderr)
        return 2
    if trace.skipped_lines:
        print(f"planner: skipped {trace.skipped_lines} bad line(s) in {args.trace}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    progress = _progress_bar if sys.stderr.isatty() else None
    try:
        results, oracle = replay_configs(
            trace, configs, oracle=not args.no_oracle, cold_start=args.cold_start, progress=progress
        )
    except PlannerError as exc:
        print(f"\nplanner: {exc}", file=sys.stderr)
        return 2
    if progress is not None:
        print(file=sys.stderr)
    print(format_table(trace.name, results))
    if oracle is not None and not args.cold_start:
        start = f"{oracle.first_fleet[0]}P/{oracle.first_fleet[1]}D, the oracle's first window, for every config"
        start += " not setting simulation.initial_prefill/initial_decode"
    else:
        start = "each config's own (simulation.initial_prefill/initial_decode, else its min endpoints)"
    print(format_footer(results, oracle, start))
    if args.json:
        write_json(args.json, trace.name, results, oracle, args.rate_scale)
    if args.report:
        try:
            write_html(args.report, trace.name, results, oracle, configs[0][1].ttft_ms, configs[0][1].itl_ms)
        except OSError as exc:
            print(f"planner: cannot write the report {args.report}: {exc}", file=sys.stderr)
            return 2
    return 0


def _list_plugins(registry: str, token: str | None) -> int:
    import grpc
    import grpc.aio

    from planner_sdk._grpc import registry_grpc
    from planner_sdk._proto.planner.v1 import registry_pb2 as rpb
    from planner_sdk._wire import declaration_from_proto

    async def fetch() -> Any:
        async with grpc.aio.insecure_channel(registry) as channel:
            metadata = [("authorization", f"Bearer {token}")] if token else []
            return await registry_grpc.PluginRegistryStub(channel).ListPlugins(
                rpb.ListPluginsRequest(), metadata=metadata, timeout=5.0
            )

    try:
        answer = anyio.run(fetch)
    except grpc.aio.AioRpcError as exc:
        print(f"planner: registry at {registry}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 2
    print(f"base cadence {answer.base_cadence_seconds:g} s")
    print(
        f"{'id':<28} {'stage':<8} {'prio':>5} {'every s':>8} {'source':<9} {'circuit':<10} {'last ms':>8}  last error"
    )
    for status in answer.plugins:
        spec = declaration_from_proto(status.declaration)
        latency = f"{status.last_latency_ms:.1f}" if status.HasField("last_latency_ms") else "-"
        print(
            f"{spec.id:<28} {spec.stage.value:<8} {spec.priority:>5} {spec.execution_interval_seconds:>8g} "
            f"{status.source:<9} {status.circuit:<10} {latency:>8}  {status.last_error[:60]}"
        )
    return 0


def _progress_bar(name: str, fraction: float) -> None:
    filled = round(30 * fraction)
    print(f"\r{name[:24]:<24} [{'#' * filled}{'.' * (30 - filled)}] {100 * fraction:5.1f}%", end="", file=sys.stderr)


async def _run(config: PlannerConfig) -> None:
    speed = config.clock_speed_effective
    clock: Clock = ScaledClock(speed) if speed != 1.0 else WallClock()
    if speed != 1.0 and config.environment != "embedded":
        log.warning(
            "clock_speed=%g: intervals and tick deadlines run %g times faster than wall time "
            "(meant for driving a simulated cluster); plugin timeouts and leases stay wall time", speed, speed,
        )  # fmt: skip
    async with Planner(config, clock=clock) as planner, anyio.create_task_group() as group:
        if isinstance(clock, ScaledClock):
            clock.restart()  # loading plugins took wall time the simulated deployment must not see
        group.start_soon(_stop_on_signals, planner, group.cancel_scope)
        for (host, port), (what, routes) in _http_routes(planner).items():
            try:
                await group.start(serve_routes, routes, host, port)
            except OSError as exc:  # observability never stops the planner deciding
                log.error("%s: cannot listen on %s:%d (%s); the planner runs without it", what, host, port,
                          exc.strerror or exc)  # fmt: skip
        if planner.world is not None:
            world_end = planner.world.trace.duration
            group.start_soon(_stop_after, planner, clock, config.simulation.duration_seconds or world_end)
            group.start_soon(_summarise, planner, clock)
            sim = config.simulation
            if sim.metrics_port is not None:
                metrics = FrontendMetrics(planner.world.cluster)
                await group.start(serve_frontend_metrics, metrics, clock, sim.metrics_host, sim.metrics_port)
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


def _http_routes(planner: Planner) -> dict[tuple[str, int], tuple[str, dict[str, Route]]]:
    """Probes on `health_port`, the planner's metrics on `metric_reporting_prometheus_port`, the
    live dashboard on `live_dashboard_port` (one server where they share an address)."""
    config = planner.config
    served: dict[tuple[str, int], tuple[str, dict[str, Route]]] = {}

    def add(what: str, host: str, port: int, routes: dict[str, Route]) -> None:
        names, known = served.get((host, port), ("", {}))
        served[(host, port)] = (f"{names} and {what}" if names else what, {**known, **routes})

    if config.health_port is not None:
        add("health_port", config.health_host, config.health_port, health_routes(planner))
    if config.metric_reporting_prometheus_port:
        add("metric_reporting_prometheus_port", config.health_host, config.metric_reporting_prometheus_port,
            planner.metrics.routes())  # fmt: skip
    if config.live_dashboard_port:
        routes = dashboard_routes(planner, planner.clock.unscaled().monotonic)
        add("live_dashboard_port", config.live_dashboard_host, config.live_dashboard_port, routes)
    return served


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
        score = cluster.score(config.ttft_ms, config.itl_ms, finished_only=True)
        log.info(
            "summary t=%.0fs: %s ready/expected, %d GPU(s), %d/%d requests done, SLA met by %.1f%% "
            "(TTFT p99 %.0f ms, ITL p99 %.1f ms), %d decision(s)",
            clock.monotonic(), roles, gpus, cluster.finished, cluster.arrived, 100 * score.sla_attainment,
            score.p99_ttft_ms, score.p99_itl_ms, planner.pipeline.last_decision_id,
        )  # fmt: skip
