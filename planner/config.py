"""PlannerConfig: one validated configuration from a file, the environment and CLI overrides."""

from __future__ import annotations

import contextvars
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from planner_sdk import Role

from .config_kubernetes import (
    HaConfig,
    KubernetesConfig,
    KubernetesTargets,
    KubernetesWorkers,
    ScaleTargetRef,
    WorkerDiscoveryConfig,
)
from .config_sections import (
    AicPerfModelConfig,
    PluginEntry,
    PluginRegistrationConfig,
    PluginTlsConfig,
    PrometheusConfig,
    SafetyConfig,
    SchedulingConfig,
    SimulationConfig,
    StaticPluginConfig,
    TlsConfig,
    TracingConfig,
    TransportConfig,
    WorkerMetricsEndpoint,
)
from .errors import ConfigError

SECRET_SETTINGS = ("prometheus.bearer_token",)
"""Settings whose values are credentials: never printed (files holding credentials are paths, not secrets)."""
REDACTED = "<redacted>"

__all__ = [
    "PlannerConfig",
    "SECRET_SETTINGS",
    "SchedulingConfig",
    "PluginRegistrationConfig",
    "TransportConfig",
    "TlsConfig",
    "PluginTlsConfig",
    "StaticPluginConfig",
    "PluginEntry",
    "SafetyConfig",
    "SimulationConfig",
    "WorkerMetricsEndpoint",
    "PrometheusConfig",
    "KubernetesConfig",
    "KubernetesTargets",
    "ScaleTargetRef",
    "KubernetesWorkers",
    "WorkerDiscoveryConfig",
    "HaConfig",
    "load_config",
    "read_config_file",
    "parse_override",
    "format_validation_error",
    "DYNAMO_ALIASES",
]

# Old Dynamo spellings accepted on input; the canonical name is what the planner reports.
DYNAMO_ALIASES: Mapping[str, str] = {
    "ttft": "ttft_ms",
    "itl": "itl_ms",
    "adjustment_interval": "throughput_adjustment_interval_seconds",
    "adjustment_interval_seconds": "throughput_adjustment_interval_seconds",
    "throughput_adjustment_interval": "throughput_adjustment_interval_seconds",
    "load_adjustment_interval": "load_adjustment_interval_seconds",
    "no_operation": "advisory",
}

DEFAULT_ENGINE_STARTUP_S = 120.0
"""A typical LLM engine's time to start (image pull, weights load, warm-up) before it is measured."""

ROLES_BY_MODE: Mapping[str, tuple[Role, ...]] = {
    "disagg": (Role.PREFILL, Role.DECODE),
    "prefill": (Role.PREFILL,),
    "decode": (Role.DECODE,),
    "agg": (Role.AGG,),
}


_FILE_DATA: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "planner_config_file", default=None
)


class _FileSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_FILE_DATA.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


class PlannerConfig(BaseSettings):
    """Every setting of the planner daemon. Field names and defaults follow Dynamo's Planner."""

    model_config = SettingsConfigDict(
        env_prefix="PLANNER_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        allow_inf_nan=False,
        frozen=True,
    )

    mode: Literal["disagg", "prefill", "decode", "agg"] = "disagg"
    backend: Literal["vllm", "sglang", "trtllm", "mocker"] = "vllm"
    environment: Literal["embedded", "kubernetes", "virtual", "global-planner"] = "embedded"
    namespace: str | None = None
    optimization_target: Literal["throughput", "latency", "load", "sla"] = "throughput"
    advisory: bool = False

    throughput_adjustment_interval_seconds: float = Field(180.0, gt=0)
    load_adjustment_interval_seconds: float = Field(5.0, gt=0)
    enable_throughput_scaling: bool = True
    enable_load_scaling: bool = False

    ttft_ms: float = Field(500.0, gt=0)
    itl_ms: float = Field(50.0, gt=0)
    isl: float = Field(3000.0, gt=0, description="Expected mean input length before traffic is seen.")
    osl: float = Field(150.0, gt=0, description="Expected mean output length before traffic is seen.")

    max_gpu_budget: int = Field(8, ge=-1, description="Total GPUs the planner may allocate; -1 = no limit.")
    min_endpoint: int = Field(1, ge=0)
    prefill_min_endpoint: int | None = Field(None, ge=0)
    decode_min_endpoint: int | None = Field(None, ge=0)
    prefill_engine_num_gpu: int = Field(1, ge=1)
    decode_engine_num_gpu: int = Field(1, ge=1)
    max_throughput_scaling_replicas: int = Field(8, ge=1)

    load_predictor: Literal["constant", "moving_average", "kalman", "arima", "prophet", "ensemble"] = "ensemble"
    load_predictor_log1p: bool = False
    load_predictor_warmup_trace: str | None = None
    load_predictor_warmup_lenient: bool = False
    prophet_window_size: int = Field(50, ge=2)
    kalman_q_level: float = Field(1.0, gt=0)
    kalman_q_trend: float = Field(0.1, gt=0)
    kalman_r: float = Field(10.0, gt=0)
    kalman_min_points: int = Field(5, ge=1)
    no_correction: bool = False
    profile_results_dir: str | None = None
    aic_perf_model: AicPerfModelConfig | None = Field(
        None, description="Engine speed from AIConfigurator when no profile_results_dir is given."
    )
    engine_model: Literal["auto", "learnt"] = Field(
        "auto", description="auto: profile, else AIC model, else bundled (embedded), else learnt; learnt: always."
    )
    throughput_sizing: Literal["queue_aware", "dynamo"] = "queue_aware"
    queue_aware_quantile: float = Field(0.995, gt=0.5, lt=1.0)
    queue_aware_hysteresis: float = Field(0.1, ge=0.0, lt=0.9)
    kv_transfer_ms_per_1k_tokens: float = Field(
        2.4, ge=0, le=1000, description="Time a prompt's KV cache takes to reach its decode engine, part of TTFT."
    )
    scale_down_stabilization_seconds: float | None = Field(None, ge=0)
    engine_startup_seconds: float | None = Field(
        None, ge=0, le=86400, description="Time from asking for an engine to it serving (refined from observed starts)."
    )
    surge_check_interval_seconds: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="How often, between throughput decisions, arrivals are checked for a surge they did not plan for "
        "(0: never).",
    )
    observe_interval_seconds: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="How often engines and traffic are observed (default: the fastest loop reading them).",
    )
    engine_context_length: int = Field(131072, ge=1)
    prefill_scale_up_queue_tokens: float = Field(16384.0, ge=0)
    prefill_scale_down_queue_tokens: float = Field(1024.0, ge=0)
    decode_scale_up_kv_rate: float = Field(0.9, gt=0)
    decode_scale_down_kv_rate: float = Field(0.5, ge=0)
    worker_metrics: list[WorkerMetricsEndpoint] = Field(
        default_factory=list, description="Engines' /metrics to scrape for the load loop."
    )
    worker_metrics_timeout_seconds: float = Field(1.0, gt=0)
    load_scaling_down_sensitivity: int = Field(80, ge=0, le=100)
    load_min_observations: int = Field(5, ge=1)
    max_num_fpm_samples: int = Field(64, ge=1)
    fpm_sample_bucket_size: int = Field(16, ge=1)
    metric_pulling_prometheus_endpoint: str | None = Field(
        default_factory=lambda: os.environ.get("PROMETHEUS_ENDPOINT") or None,
        pattern=r"^https?://",
        description="Prometheus whose query API `builtin_prometheus_traffic` reads (env PROMETHEUS_ENDPOINT).",
    )
    throughput_metrics_source: Literal["frontend", "router"] = "frontend"
    model_name: str | None = Field(None, description="Only traffic for this model (frontend source).")
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)  # reads DYN_NAMESPACE per load
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)  # reads DYN_PARENT_DGD_K8S_NAME
    ha: HaConfig = Field(default_factory=HaConfig)  # reads POD_NAME
    clock_speed: float | None = Field(
        None, gt=0, description="Planner seconds per wall second (to drive a simulated cluster faster than real time)."
    )

    scheduling: SchedulingConfig = SchedulingConfig()
    plugin_registration: PluginRegistrationConfig = PluginRegistrationConfig()
    safety: SafetyConfig = SafetyConfig()
    simulation: SimulationConfig = SimulationConfig()
    plugins: list[PluginEntry] = Field(default_factory=list, description="In-process plugins by `module:Class`.")
    disabled_plugins: list[str] = Field(default_factory=list, description="Plugin ids not to load.")
    decision_record_path: str | None = Field(None, description="Append one JSON line per tick here.")
    health_port: int | None = Field(None, ge=0, le=65535, description="Serve /healthz and /readyz on this port.")
    metric_reporting_prometheus_port: int = Field(
        default_factory=lambda: int(os.environ.get("PLANNER_PROMETHEUS_PORT") or 0),
        ge=0, le=65535, description="Serve the planner's own /metrics here (env PLANNER_PROMETHEUS_PORT); 0: off.",
    )  # fmt: skip
    health_host: str = Field("0.0.0.0", description="Address /healthz, /readyz and the planner's /metrics bind to.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one object per line (with tick, decision and plugin ids) for log pipelines."
    )
    tracing: TracingConfig = Field(default_factory=TracingConfig)  # reads OTEL_TRACES_EXPORTER per load
    report_interval_hours: float | None = Field(
        None, gt=0, description="Write an HTML report every N hours of planner time into report_output_dir; null: off."
    )
    report_output_dir: str = Field("./planner_reports", description="Where the periodic HTML reports go.")
    live_dashboard_port: int = Field(
        0, ge=0, le=65535, description="Serve the live dashboard (charts, plugins, health) here; 0: off."
    )
    live_dashboard_host: str = Field("127.0.0.1", description="Address the live dashboard binds to (loopback).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: CLI overrides (init kwargs), then PLANNER_* environment, then the file.
        return (init_settings, env_settings, _FileSource(settings_cls))

    @model_validator(mode="before")
    @classmethod
    def _accept_dynamo_aliases(cls, data: Any) -> Any:
        return normalise_keys(data) if isinstance(data, dict) else data

    @field_validator("fpm_sample_bucket_size")
    @classmethod
    def _perfect_square(cls, value: int) -> int:
        if int(value**0.5) ** 2 != value:
            raise ValueError("must be a perfect square")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PlannerConfig:
        if "optimization_target" not in self.model_fields_set and self._targets_given:
            # A newcomer who writes latency targets means them: plan for them (Dynamo would ignore them).
            object.__setattr__(self, "optimization_target", "sla")
        if self.optimization_target == "sla" and not (self.enable_throughput_scaling or self.enable_load_scaling):
            raise ValueError(
                "enable_throughput_scaling=False and enable_load_scaling=False: "
                "optimization_target 'sla' needs at least one scaling mode"
            )
        if (
            self.throughput_enabled
            and self.load_enabled
            and self.load_adjustment_interval_seconds >= self.throughput_adjustment_interval_seconds
        ):
            raise ValueError(
                f"load_adjustment_interval_seconds={self.load_adjustment_interval_seconds:g} must be shorter "
                f"than throughput_adjustment_interval_seconds={self.throughput_adjustment_interval_seconds:g}"
            )
        if self.prefill_scale_up_queue_tokens <= self.prefill_scale_down_queue_tokens:
            raise ValueError(
                f"prefill_scale_up_queue_tokens={self.prefill_scale_up_queue_tokens:g} must exceed "
                f"prefill_scale_down_queue_tokens={self.prefill_scale_down_queue_tokens:g}"
            )
        if self.decode_scale_up_kv_rate <= self.decode_scale_down_kv_rate:
            raise ValueError(
                f"decode_scale_up_kv_rate={self.decode_scale_up_kv_rate:g} must exceed "
                f"decode_scale_down_kv_rate={self.decode_scale_down_kv_rate:g}"
            )
        if self.environment == "kubernetes":
            k8s = self.kubernetes
            refs = k8s.targets.for_roles(self.roles)
            if not k8s.dgd_name and len(refs) < len(self.roles):
                missing = [r.value for r in self.roles if r not in refs]
                raise ValueError(
                    "environment 'kubernetes' needs kubernetes.dgd_name (or env DYN_PARENT_DGD_K8S_NAME) "
                    f"or kubernetes.targets for every role; missing: {missing}"
                )
            if self.worker_metrics and k8s.workers.for_roles(self.roles):
                raise ValueError(
                    "worker_metrics and kubernetes.workers are both set: list the workers, or let them be "
                    "found by label, not both"
                )
        elif self.ha.enabled:
            raise ValueError(f"ha.enabled needs environment 'kubernetes' (a Lease), not {self.environment!r}")
        if self.environment == "embedded" and self.mode == "agg":
            raise ValueError(
                "mode='agg' with environment 'embedded': the simulator models disaggregated deployments "
                "(prefill and decode engines); plan aggregated engines on Kubernetes"
            )
        fastest = self._fastest_reader_interval
        if self.observe_interval_seconds is not None and self.observe_interval_seconds > fastest:
            raise ValueError(
                f"observe_interval_seconds={self.observe_interval_seconds:g} is longer than the {fastest:g} s "
                "loop that reads the observations: it would decide on stale ones"
            )
        self._engine_gpus_follow_the_picks()
        if self.max_gpu_budget >= 0:
            floor = sum(self.min_endpoint_for(r) * self.gpus_per_engine(r) for r in self.roles)
            if floor > self.max_gpu_budget:
                raise ValueError(
                    f"max_gpu_budget={self.max_gpu_budget} is below the {floor} GPUs the min endpoints need"
                )
        return self

    def _engine_gpus_follow_the_picks(self) -> None:
        """With an AIC model, an engine takes its pick's GPUs (tp x pp x dp): the budget counts those."""
        aic = self.aic_perf_model
        if aic is None:
            return
        if aic.backend is None:  # the planner's backend, when the library models it
            backend = "vllm" if self.backend == "mocker" else self.backend
            object.__setattr__(self, "aic_perf_model", aic.model_copy(update={"backend": backend}))
        for name, pick in (("prefill", aic.prefill_pick), ("decode", aic.decode_pick)):
            field_name = f"{name}_engine_num_gpu"
            given = getattr(self, field_name)
            if field_name in self.model_fields_set and given != pick.gpus:
                raise ValueError(
                    f"{field_name}={given} but aic_perf_model.{name}_pick takes {pick.gpus} GPU(s) per engine "
                    f"(tp {pick.tp} x pp {pick.pp} x dp {pick.dp}); set one of them"
                )
            object.__setattr__(self, field_name, pick.gpus)

    @property
    def _targets_given(self) -> list[str]:
        return [name for name in ("ttft_ms", "itl_ms") if name in self.model_fields_set]

    def notices(self) -> list[tuple[str, str]]:
        """(level, message) pairs worth saying at start-up: settings chosen for the user, limits that bind."""
        said: list[tuple[str, str]] = []
        given = self._targets_given
        targets = ", ".join(f"{name}={getattr(self, name):g}" for name in given)
        if given and "optimization_target" not in self.model_fields_set:
            said.append(("info", f"optimization_target: sla, because {targets} is set: the fleet is sized to meet it"))
        elif given and self.optimization_target != "sla":
            said.append((
                "warning",
                f"{targets} is set but optimization_target={self.optimization_target!r} does not plan for "
                "latency targets; set optimization_target: sla to size the fleet for them",
            ))  # fmt: skip
        if self.throughput_enabled and self.max_gpu_budget >= 0 and "max_gpu_budget" not in self.model_fields_set:
            said.append((
                "warning",
                f"max_gpu_budget={self.max_gpu_budget} (the default) caps the fleet at {self.max_gpu_budget} GPUs "
                "whatever the targets need; set it to your GPU quota, or -1 for no limit",
            ))  # fmt: skip
        return said

    @property
    def roles(self) -> tuple[Role, ...]:
        return ROLES_BY_MODE[self.mode]

    @property
    def throughput_enabled(self) -> bool:
        """Dynamo: the throughput (predictive) loop only runs for `optimization_target: sla`."""
        return self.optimization_target == "sla" and self.enable_throughput_scaling

    @property
    def load_enabled(self) -> bool:
        """Dynamo: the presets are load-based; `sla` uses it only when asked."""
        return self.optimization_target != "sla" or self.enable_load_scaling

    def redacted_dump(self) -> dict[str, Any]:
        """The config as plain values for display, secrets replaced by `<redacted>` (`validate-config`)."""
        data = self.model_dump()
        for path in SECRET_SETTINGS:
            *parents, name = path.split(".")
            section = data
            for parent in parents:
                section = section[parent]
            if section.get(name):
                section[name] = REDACTED
        return data

    def effective(self) -> dict[str, Any]:
        """What the builtin plugin factory needs beyond the raw fields."""
        return {
            "roles": [role.value for role in self.roles],
            "throughput_enabled": self.throughput_enabled,
            "load_enabled": self.load_enabled,
            "min_endpoint": {role.value: self.min_endpoint_for(role) for role in self.roles},
            # `planner run` may pace the planner on a scaled clock (a simulation); Prometheus keeps wall time.
            "wall_seconds_per_second": 1.0 / self.clock_speed_effective,
            "engine_startup_seconds": self.engine_startup_effective,
            "learn_engine_model": self.learns_engine_model,
            "observe_interval_seconds": self.observe_interval_effective,
            "surge_check_interval_seconds": self.surge_interval_effective,
            # Known when the user says so, or when the engines are the simulator's; else learnt.
            "refine_engine_startup": self.engine_startup_seconds is None and self.environment != "embedded",
        }

    @property
    def learns_engine_model(self) -> bool:
        """The throughput loop learns the engines' speed from their metrics: asked to, or nothing else
        says it (no profile, no AIC model, and engines that are not the simulator's own)."""
        if not self.throughput_enabled:
            return False
        unknown = self.profile_results_dir is None and self.aic_perf_model is None and self.environment != "embedded"
        return self.engine_model == "learnt" or unknown

    @property
    def observe_interval_effective(self) -> float:
        """How often engines and traffic are observed: `observe_interval_seconds`, else as often as the
        fastest loop that reads them runs."""
        return self.observe_interval_seconds or min(
            self._fastest_reader_interval, self.surge_interval_effective or math.inf
        )

    @property
    def _fastest_reader_interval(self) -> float:
        # The load loop, or the engine model's samples, else the throughput loop.
        intervals = [self.load_adjustment_interval_seconds] if self.load_enabled or self.learns_engine_model else []
        if self.throughput_enabled:
            intervals.append(self.throughput_adjustment_interval_seconds)
        return min(intervals, default=self.throughput_adjustment_interval_seconds)

    @property
    def surge_interval_effective(self) -> float | None:
        """How often the throughput loop checks arrivals between its decisions: `surge_check_interval_seconds`,
        no more often than `observe_interval_seconds` when that is set; None when the check does not run (off,
        not shorter than the throughput interval, or Dynamo's sizing, which has no such check)."""
        if (
            not self.throughput_enabled
            or self.throughput_sizing != "queue_aware"
            or not self.surge_check_interval_seconds
        ):
            return None
        interval = max(self.surge_check_interval_seconds, self.observe_interval_seconds or 0.0)
        return interval if interval < self.throughput_adjustment_interval_seconds else None

    @property
    def engine_startup_effective(self) -> float:
        """`engine_startup_seconds`, else the simulated engines' start-up when embedded, else 120 s."""
        if self.engine_startup_seconds is not None:
            return self.engine_startup_seconds
        return self.simulation.startup_delay_seconds if self.environment == "embedded" else DEFAULT_ENGINE_STARTUP_S

    @property
    def clock_speed_effective(self) -> float:
        """Planner seconds per wall second: `clock_speed`, else `simulation.speed` when embedded, else 1."""
        if self.clock_speed is not None:
            return self.clock_speed
        return self.simulation.speed if self.environment == "embedded" else 1.0

    def min_endpoint_for(self, role: Role) -> int:
        specific = {Role.PREFILL: self.prefill_min_endpoint, Role.DECODE: self.decode_min_endpoint}.get(role)
        return self.min_endpoint if specific is None else specific

    def gpus_per_engine(self, role: Role) -> int:
        return self.prefill_engine_num_gpu if role is Role.PREFILL else self.decode_engine_num_gpu


def normalise_keys(data: dict[str, Any]) -> dict[str, Any]:
    """Accept `kebab-case` keys and Dynamo's old names; refuse the same setting given twice."""
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in data.items():
        name = key.replace("-", "_") if isinstance(key, str) else key
        canonical = DYNAMO_ALIASES.get(name, name)
        if canonical in out:
            raise ValueError(f"{given_as[canonical]!r} and {key!r} set the same field; give only {canonical!r}")
        out[canonical] = value
        given_as[canonical] = key
    return out


def non_string_keys(value: Any, path: str = "") -> list[str]:
    """Where a mapping has a key that is no name (YAML allows `1:`, `null:`, `? [a]`): settings and
    plugin kwargs are names, so each is an error naming its place."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                found.append(f"{where}: setting names are text, got the {type(key).__name__} {key!r}")
            found += non_string_keys(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += non_string_keys(item, f"{path}.{index}")
    return found


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a mapping, with errors that name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"config file {str(path)!r}: cannot be read ({exc.strerror or exc})"]) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            [f"config file {str(path)!r}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"]
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"config file {str(path)!r}: top level must be a mapping, got {type(data).__name__}"])
    if problems := non_string_keys(data):
        raise ConfigError([f"config file {str(path)!r}: {problem}" for problem in problems])
    return data


def parse_override(text: str) -> dict[str, Any]:
    """Turn `a.b.c=value` (value parsed as YAML) into a nested mapping."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            [f"override {text!r}: expected KEY=VALUE, e.g. ttft_ms=300 or scheduling.tick_max_duration_seconds=10"]
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    node: dict[str, Any] = {}
    root = node
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return root


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def format_validation_error(error: ValidationError) -> list[str]:
    """One line per problem: full field path, the bad value, the rule."""
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown setting (value {item['input']!r})")
        elif item["type"] == "missing":
            lines.append(f"{path}: required but not given")
        elif not item["loc"] or (item["type"] == "value_error" and isinstance(item["input"], dict)):
            lines.append(f"{path}: {message}")
        elif path in SECRET_SETTINGS:
            lines.append(f"{path}: the value given ({REDACTED}) is invalid: {message}")
        else:
            lines.append(f"{path}: {item['input']!r} is invalid: {message}")
    return lines


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
) -> PlannerConfig:
    """Build the effective config: CLI overrides beat PLANNER_* variables beat the file."""
    try:
        file_data = normalise_keys(read_config_file(path)) if path is not None else {}
        cli: dict[str, Any] = {}
        for text in overrides or []:
            cli = _deep_merge(cli, normalise_keys(parse_override(text)))
        if problems := non_string_keys(cli):
            raise ConfigError([f"override: {problem}" for problem in problems])
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    token = _FILE_DATA.set(file_data)
    try:
        return PlannerConfig(**cli)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
    finally:
        _FILE_DATA.reset(token)
