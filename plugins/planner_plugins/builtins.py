"""The `planner.plugins` entry point: which builtin plugins the effective settings enable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from planner_sdk import Plugin, Role

from .observe import PrometheusSettings, PrometheusTraffic, WorkerEndpoint, WorkerMetricsObserve
from .perf import BUNDLED_PROFILE_DIR, PerfModel, ProfileError, load_profile
from .perf.learnt import EngineModelLearner
from .predict import EngineModelLearn, LoadPredict
from .propose import (
    PRESETS,
    LoadPropose,
    LoadThresholds,
    SizingSettings,
    SlaLoadSettings,
    SurgePropose,
    ThroughputPropose,
)

__all__ = ["create_plugins", "load_thresholds", "perf_model", "prometheus_settings", "worker_metrics_plugin"]


def _roles(settings: Mapping[str, Any]) -> tuple[Role, ...]:
    return tuple(Role(r) for r in settings["effective"]["roles"])


def load_thresholds(settings: Mapping[str, Any]) -> LoadThresholds | SlaLoadSettings:
    """The preset for `optimization_target`, latency models for `sla`, or the user's thresholds for `load`."""
    target = settings["optimization_target"]
    if target in PRESETS:
        return PRESETS[target]
    if target == "sla":
        return SlaLoadSettings(
            ttft_ms=settings["ttft_ms"],
            itl_ms=settings["itl_ms"],
            sensitivity=settings["load_scaling_down_sensitivity"],
            max_samples=settings["max_num_fpm_samples"],
            buckets=settings["fpm_sample_bucket_size"],
        )
    context = float(settings["engine_context_length"])
    return LoadThresholds(
        prefill_up=settings["prefill_scale_up_queue_tokens"] / context,
        prefill_down=settings["prefill_scale_down_queue_tokens"] / context,
        decode_up=settings["decode_scale_up_kv_rate"],
        decode_down=settings["decode_scale_down_kv_rate"],
    )


def perf_model(settings: Mapping[str, Any]) -> PerfModel:
    """The engines' performance model the throughput proposer sizes with: the measured profile,
    else AIConfigurator's model, else (simulated engines) the bundled profile; ProfileError if none."""
    if settings.get("engine_model") == "learnt":
        raise ProfileError("engine_model: learnt: the engines' speed is learnt from their metrics as they run")
    directory = settings.get("profile_results_dir")
    if directory is None and settings.get("aic_perf_model"):
        from .perf.aic import perf_model_from_settings  # the library loads only when configured

        return perf_model_from_settings(settings["aic_perf_model"])
    if directory is None:
        if settings.get("environment") != "embedded":
            raise ProfileError(
                "profile_results_dir or aic_perf_model is required for throughput-based scaling "
                "(optimization_target: sla); point it at your engines' profiling results, or name the model "
                "and GPU system for AIConfigurator"
            )
        directory = BUNDLED_PROFILE_DIR
    return PerfModel.from_profile(
        load_profile(directory), settings["decode_engine_num_gpu"], settings["prefill_engine_num_gpu"]
    )


def _engine_model_learner(settings: Mapping[str, Any], plugins: list[Plugin]) -> EngineModelLearner:
    """The learner the throughput proposer sizes with, and builtin_engine_model to feed it (added to
    `plugins`); ProfileError when no engine metrics could reach it."""
    if Role.AGG in _roles(settings):
        # Their steps mix prefill chunks and decode batches: a pass's time tells neither phase's speed.
        raise ProfileError(
            "mode: agg needs the engines' speed given, not learnt: profile_results_dir (a profiling run) or "
            "aic_perf_model (AIConfigurator's model of the engine)"
        )
    kubernetes_workers = any((settings.get("kubernetes") or {}).get("workers", {}).values())
    if settings.get("environment") != "embedded" and not settings.get("worker_metrics") and not kubernetes_workers:
        raise ProfileError(
            "optimization_target: sla needs the engines' speed: profile_results_dir (a profiling run), "
            "aic_perf_model (AIConfigurator's model of the engine), or engine metrics to learn it from "
            "(worker_metrics, or kubernetes.workers to find the pods)"
        )
    learner = EngineModelLearner(settings["prefill_engine_num_gpu"], settings["decode_engine_num_gpu"])
    plugins.append(EngineModelLearn(learner, float(settings["load_adjustment_interval_seconds"])))
    return learner


def prometheus_settings(settings: Mapping[str, Any]) -> PrometheusSettings:
    """How builtin_prometheus_traffic queries: one throughput interval per observation window, its last
    surge-check interval counted apart."""
    prometheus = settings["prometheus"]
    surge = settings["effective"].get("surge_check_interval_seconds")
    return PrometheusSettings(
        endpoint=settings["metric_pulling_prometheus_endpoint"],
        window_s=float(settings["throughput_adjustment_interval_seconds"]),
        source=settings["throughput_metrics_source"],
        model_name=settings.get("model_name"),
        dynamo_namespace=prometheus.get("dynamo_namespace"),
        bearer_token=prometheus.get("bearer_token"),
        bearer_token_file=prometheus.get("bearer_token_file"),
        ca_bundle=prometheus.get("ca_bundle"),
        tls_verify=prometheus["tls_verify"],
        timeout_s=prometheus["request_timeout_seconds"],
        extra_query_params=prometheus.get("extra_query_params") or {},
        wall_seconds_per_second=settings["effective"].get("wall_seconds_per_second", 1.0),
        recent_s=None if surge is None else float(surge),
    )


def worker_metrics_plugin(
    settings: Mapping[str, Any],
    endpoints: Sequence[WorkerEndpoint] = (),
    discover: Callable[[], Awaitable[Sequence[WorkerEndpoint]]] | None = None,
) -> WorkerMetricsObserve:
    """builtin_worker_metrics for a fixed list of workers, or for those `discover()` finds each tick;
    scraped as often as the fastest loop that reads it."""
    interval = float(settings["effective"]["observe_interval_seconds"])
    return WorkerMetricsObserve(endpoints, interval, settings["worker_metrics_timeout_seconds"], discover=discover)


def create_plugins(settings: Mapping[str, Any]) -> list[Plugin]:
    """builtin_prometheus_traffic when an endpoint is set and builtin_load_predict and
    builtin_throughput_propose when the throughput loop runs, builtin_load_propose when the load
    loop runs (see `effective` in the settings)."""
    effective = settings["effective"]
    roles = _roles(settings)
    plugins: list[Plugin] = []
    if settings.get("metric_pulling_prometheus_endpoint") and effective["throughput_enabled"]:
        # Read as often as the surge check runs between decisions, else once a decision.
        interval = float(
            effective.get("surge_check_interval_seconds") or settings["throughput_adjustment_interval_seconds"]
        )
        plugins.append(PrometheusTraffic(prometheus_settings(settings), interval))
    workers = settings.get("worker_metrics") or []
    if workers:
        endpoints = [WorkerEndpoint(w["worker_id"], Role(w["role"]), w["url"]) for w in workers]
        plugins.append(worker_metrics_plugin(settings, endpoints))
    if effective["throughput_enabled"]:
        interval = float(settings["throughput_adjustment_interval_seconds"])
        plugins.append(
            LoadPredict(
                settings["load_predictor"],
                settings,
                interval,
                settings.get("load_predictor_warmup_trace"),
                bool(settings.get("load_predictor_warmup_lenient")),
            )
        )
        sizing = SizingSettings(
            interval_s=interval,
            ttft_ms=settings["ttft_ms"],
            itl_ms=settings["itl_ms"],
            prefill_gpus=settings["prefill_engine_num_gpu"],
            decode_gpus=settings["decode_engine_num_gpu"],
            min_endpoint={Role(r): n for r, n in effective["min_endpoint"].items()},
            sizing=settings["throughput_sizing"],
            quantile=settings["queue_aware_quantile"],
            hysteresis=settings["queue_aware_hysteresis"],
            kv_transfer_ms_per_1k_tokens=settings["kv_transfer_ms_per_1k_tokens"],
            correction=not settings["no_correction"],
            scale_down_stabilization_s=settings["scale_down_stabilization_seconds"],
            startup_s=float(effective["engine_startup_seconds"]),
            refine_startup=bool(effective["refine_engine_startup"]),
            default_isl=settings["isl"],
            default_osl=settings["osl"],
        )
        engines: PerfModel | EngineModelLearner = (
            _engine_model_learner(settings, plugins) if effective["learn_engine_model"] else perf_model(settings)
        )
        throughput = ThroughputPropose(engines, sizing, roles, floor=effective["load_enabled"])
        plugins.append(throughput)
        if effective.get("surge_check_interval_seconds"):
            plugins.append(SurgePropose(throughput, float(effective["surge_check_interval_seconds"])))
    if effective["load_enabled"]:
        plugins.append(
            LoadPropose(
                load_thresholds(settings),
                roles,
                float(settings["load_adjustment_interval_seconds"]),
                float(settings["engine_context_length"]),
                settings["load_min_observations"],
                settings["safety"]["pending_scale_down_timeout_seconds"],
            )
        )
    return plugins
