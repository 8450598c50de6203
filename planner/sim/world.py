"""A simulated deployment wired for the planner: cluster, connector and observe plugin from one config."""

from __future__ import annotations

from pathlib import Path

from planner_plugins.perf import BUNDLED_PROFILE_DIR, PerfModel, load_profile
from planner_plugins.traces import Trace, load_trace, scale_rate
from planner_sdk import Role

from ..clock import Clock
from ..config import PlannerConfig
from .cluster import SimCluster, SimSettings
from .signals import SimConnector, SimObserve

__all__ = [
    "BUNDLED_TRACE",
    "SimulatedDeployment",
    "load_perf",
    "simulation_settings",
    "embedded_trace",
]

BUNDLED_TRACE = Path(__file__).parent / "data" / "mooncake_conversation_30min.jsonl.gz"


def load_perf(config: PlannerConfig) -> PerfModel:
    """The simulated engines' speed: `simulation.profile_results_dir`, else AIConfigurator's model of
    `aic_perf_model`, else the bundled H200 profile."""
    directory = config.simulation.profile_results_dir
    if directory is None and config.aic_perf_model is not None:
        from planner_plugins.perf.aic import perf_model_from_settings  # the library loads only when configured

        return perf_model_from_settings(config.aic_perf_model.model_dump())
    profile = load_profile(directory or BUNDLED_PROFILE_DIR)
    return PerfModel.from_profile(profile, config.decode_engine_num_gpu, config.prefill_engine_num_gpu)


def simulation_settings(config: PlannerConfig) -> SimSettings:
    sim = config.simulation
    return SimSettings(
        startup_delay_s=sim.startup_delay_seconds,
        prefill_chunk_tokens=sim.prefill_chunk_tokens,
        kv_transfer_ms_per_1k_tokens=sim.kv_transfer_ms_per_1k_tokens,
        max_decode_batch=sim.max_decode_batch,
        prefill_gpus_per_engine=config.prefill_engine_num_gpu,
        decode_gpus_per_engine=config.decode_engine_num_gpu,
    )


def embedded_trace(config: PlannerConfig) -> Trace:
    """The trace `planner run` replays: `simulation.trace` or the bundled slice, at `rate_scale`."""
    trace = load_trace(config.simulation.trace or BUNDLED_TRACE)
    return scale_rate(trace, config.simulation.rate_scale, seed=config.simulation.seed)


class SimulatedDeployment:
    """Everything the planner needs to drive a simulated disaggregated deployment."""

    def __init__(self, config: PlannerConfig, clock: Clock, trace: Trace, perf: PerfModel | None = None) -> None:
        sim = config.simulation
        initial = {
            Role.PREFILL: sim.initial_prefill or max(1, config.min_endpoint_for(Role.PREFILL)),
            Role.DECODE: sim.initial_decode or max(1, config.min_endpoint_for(Role.DECODE)),
        }
        self.trace = trace
        self.cluster = SimCluster(perf or load_perf(config), trace.requests, initial, simulation_settings(config))
        self.connector = SimConnector(self.cluster, clock)
        interval = config.observe_interval_effective
        window = config.throughput_adjustment_interval_seconds if config.throughput_enabled else interval
        # With Prometheus configured, traffic comes from it (scraping the simulated frontend), not from here.
        traffic = config.metric_pulling_prometheus_endpoint is None
        self.observer = SimObserve(
            self.cluster, clock, interval, window, traffic=traffic, dispersion=sim.report_arrival_dispersion
        )

    @property
    def plugins(self) -> list[SimObserve]:
        return [self.observer]
