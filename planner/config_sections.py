"""The sections of PlannerConfig: scheduling, plugin registration, safety, simulation, Prometheus, engine models."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Section",
    "TransportConfig",
    "TlsConfig",
    "PluginTlsConfig",
    "StaticPluginConfig",
    "PluginRegistrationConfig",
    "SchedulingConfig",
    "PluginEntry",
    "WorkerMetricsEndpoint",
    "SafetyConfig",
    "SimulationConfig",
    "PrometheusConfig",
    "TracingConfig",
    "EnginePickConfig",
    "AicPerfModelConfig",
    "is_local_endpoint",
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False, frozen=True)


class TransportConfig(Section):
    request_timeout_seconds: float = Field(5.0, gt=0, description="Default per-plugin call timeout.")


class TlsConfig(Section):
    """TLS for the registry server; with `client_ca_file`, clients must present a certificate (mTLS)."""

    cert_file: str
    key_file: str
    client_ca_file: str | None = None


class PluginTlsConfig(Section):
    """TLS for the planner's calls to plugins over TCP: the CA their server certificates are checked
    against, and the planner's own client certificate for plugins that ask for one (mTLS)."""

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> PluginTlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (the planner's client certificate and its key)")
        return self


def is_local_endpoint(endpoint: str) -> bool:
    """A Unix socket or a loopback address: nothing crosses a network to reach it."""
    if endpoint.startswith("unix:"):
        return True
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


class StaticPluginConfig(Section):
    """A remote plugin the planner registers itself at start-up (it sends no heartbeats)."""

    endpoint: str = Field(pattern=r"^(unix://.+|[^\s:]+:\d+)$")
    id: str
    stage: Literal["observe", "predict", "propose", "clamp", "apply"]
    execution_interval_seconds: float = Field(gt=0)
    priority: int = 100
    hold: Literal["hold_last", "no_opinion"] = "no_opinion"
    needs: list[str] = Field(default_factory=list)
    requires: list[str] = Field(default_factory=list)
    timeout_seconds: float | None = Field(None, gt=0)
    on_error: Literal["skip", "hold_last", "reject_tick"] = "skip"


class PluginRegistrationConfig(Section):
    transport: TransportConfig = TransportConfig()
    endpoints: list[str] = Field(
        default_factory=list, description="Where the registry listens: `host:port` and/or `unix:///path`."
    )
    allow_insecure: bool = Field(False, description="Allow plaintext TCP and unauthenticated plugins.")
    token_file: str | None = Field(None, description="Bearer tokens, one per line (a mounted Secret).")
    token_env: str | None = Field(None, description="Environment variable holding comma-separated tokens.")
    tls: TlsConfig | None = None
    plugin_tls: PluginTlsConfig | None = Field(
        None, description="TLS for the planner's calls to plugins on TCP endpoints (else plaintext, loopback only)."
    )
    heartbeat_interval_seconds: float = Field(5.0, gt=0)
    lease_seconds: float | None = Field(None, gt=0, description="Default: two heartbeat intervals.")
    max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_plugins: int = Field(64, ge=1)
    registrations_per_minute: int = Field(60, ge=1)
    circuit_breaker_failures: int = Field(5, ge=1)
    circuit_breaker_cooldown_seconds: float = Field(30.0, gt=0)
    static_plugins: list[StaticPluginConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _secure_by_default(self) -> PluginRegistrationConfig:
        tcp = [e for e in self.endpoints if not e.startswith("unix:")]
        for endpoint in self.endpoints:
            if not (endpoint.startswith("unix://") or ":" in endpoint):
                raise ValueError(f"endpoints: {endpoint!r} is neither host:port nor unix:///path")
        if tcp and self.tls is None and not self.allow_insecure:
            raise ValueError(f"endpoints {tcp} are plaintext TCP: configure tls, or set allow_insecure: true")
        authenticated = self.token_file or self.token_env or (self.tls and self.tls.client_ca_file)
        for index, plugin in enumerate(self.static_plugins):
            if not (self.plugin_tls or self.allow_insecure or is_local_endpoint(plugin.endpoint)):
                raise ValueError(
                    f"static_plugins[{index}].endpoint {plugin.endpoint!r} would be called in plaintext over the "
                    "network: configure plugin_tls, or set allow_insecure: true"
                )
        if self.endpoints and not authenticated and not self.allow_insecure:
            raise ValueError(
                "no credentials configured (token_file, token_env or tls.client_ca_file): "
                "set one, or allow_insecure: true"
            )
        return self

    @property
    def lease(self) -> float:
        return self.lease_seconds or 2 * self.heartbeat_interval_seconds


class SchedulingConfig(Section):
    scale_interval_seconds: float | None = Field(
        None, gt=0, description="Base cadence; default is the gcd of the enabled plugins' intervals."
    )
    tick_max_duration_seconds: float = Field(30.0, gt=0, description="Deadline around one whole tick.")


class PluginEntry(Section):
    """An in-process plugin named by config: `module:Class` built with `kwargs`."""

    factory: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    kwargs: dict[str, Any] = Field(default_factory=dict)


class WorkerMetricsEndpoint(Section):
    """One engine's Prometheus metrics endpoint (vLLM or SGLang)."""

    worker_id: str = Field(min_length=1)
    role: Literal["prefill", "decode", "agg"]
    url: str = Field(pattern=r"^https?://")


class SafetyConfig(Section):
    max_replicas_per_role: int = Field(1000, ge=1, description="A plugin asking for more is answering nonsense.")
    pending_scale_down_timeout_seconds: float = Field(
        600.0, gt=0, description="How long capacity may stay pending before it stops blocking scale-down."
    )


class SimulationConfig(Section):
    """The simulated deployment: `planner run` drives it by default, `planner replay` scores on it."""

    trace: str | None = Field(None, description="Trace file for `planner run`; default: the bundled Mooncake slice.")
    rate_scale: float = Field(4.0, gt=0, description="Load multiplier for `planner run` (replay: --rate-scale).")
    speed: float = Field(10.0, gt=0, description="Simulated seconds per wall second for `planner run`.")
    duration_seconds: float | None = Field(None, gt=0, description="Stop `planner run` after this long.")
    profile_results_dir: str | None = Field(None, description="Simulated engines' profile; default: bundled H200.")
    startup_delay_seconds: float = Field(120.0, ge=0, description="Time from asking for an engine to it serving.")
    initial_prefill: int | None = Field(None, ge=1, description="Prefill engines at start; default: min endpoint.")
    initial_decode: int | None = Field(None, ge=1, description="Decode engines at start; default: min endpoint.")
    prefill_chunk_tokens: int = Field(16384, ge=1, description="Token budget of one chunked prefill pass.")
    kv_transfer_ms_per_1k_tokens: float = Field(2.4, ge=0, description="Prefill-to-decode KV transfer time.")
    max_decode_batch: int = Field(512, ge=1, description="Most requests one decode engine runs at once.")
    seed: int = Field(0, description="Seed of rate scaling and synthetic traces.")
    report_arrival_dispersion: bool = Field(
        True,
        description="The simulated frontend reports arrivals' dispersion (Prometheus' does not): false plans "
        "as a deployment read through Prometheus would.",
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve the simulated frontend's Prometheus /metrics on this port."
    )
    metrics_host: str = Field("127.0.0.1", description="Address the simulated frontend's /metrics binds to.")


class PrometheusConfig(Section):
    """How `builtin_prometheus_traffic` queries `metric_pulling_prometheus_endpoint`."""

    dynamo_namespace: str | None = Field(
        default_factory=lambda: os.environ.get("DYN_NAMESPACE") or None,
        description="Only series with this `dynamo_namespace` label (env DYN_NAMESPACE); none: every series.",
    )
    bearer_token: str | None = Field(None, description="Bearer token sent with every query.")
    bearer_token_file: str | None = Field(None, description="File holding the bearer token, re-read per query.")
    ca_bundle: str | None = Field(None, description="CA certificates that verify Prometheus' TLS certificate.")
    tls_verify: bool = Field(True, description="Verify Prometheus' TLS certificate.")
    request_timeout_seconds: float = Field(
        5.0, gt=0, description="A query unanswered this long fails the tick's observation."
    )
    extra_query_params: dict[str, str] = Field(
        default_factory=dict, description="Added to every query (e.g. a Thanos `dedup` or a tenant id)."
    )

    @model_validator(mode="after")
    def _one_token(self) -> PrometheusConfig:
        if self.bearer_token and self.bearer_token_file:
            raise ValueError("bearer_token and bearer_token_file are both set: give one")
        return self


class TracingConfig(Section):
    """OpenTelemetry traces of every tick: where spans go. The OTLP exporter (extra `planner[otlp]`)
    takes its endpoint, headers and certificates from the standard OTEL_EXPORTER_OTLP_* variables."""

    exporter: Literal["none", "console", "otlp"] = Field(
        default_factory=lambda: os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none",  # type: ignore[arg-type]
        description="none (no spans are made), console (stdout, for development) or otlp (env OTEL_TRACES_EXPORTER).",
    )
    service_name: str = Field(
        default_factory=lambda: os.environ.get("OTEL_SERVICE_NAME") or "planner",
        description="The traces' service.name (env OTEL_SERVICE_NAME).",
    )


class EnginePickConfig(Section):
    """How one engine is split over GPUs (Dynamo's pick): it takes tp x pp x dp GPUs."""

    tp: int = Field(1, ge=1, description="Tensor-parallel size.")
    pp: int = Field(1, ge=1, description="Pipeline-parallel size.")
    dp: int = Field(1, ge=1, description="Attention data-parallel size.")
    moe_tp: int = Field(1, ge=1, description="MoE layers' tensor-parallel size.")
    moe_ep: int = Field(1, ge=1, description="MoE layers' expert-parallel size.")

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


class AicPerfModelConfig(Section):
    """Dynamo's `aic_perf_model`: the engines' speed from NVIDIA's AIConfigurator (extra `planner[aic]`)."""

    hf_id: str = Field(min_length=1, description="Hugging Face id of a model the library bundles.")
    system: str = Field(min_length=1, description="GPU system, e.g. h200_sxm, h100_sxm, b200_sxm, l40s.")
    backend: Literal["vllm", "sglang", "trtllm"] | None = Field(
        None, description="Default: the planner's `backend` (vllm for mocker)."
    )
    backend_version: str | None = Field(None, description="A version the library has data for; default: current.")
    prefill_pick: EnginePickConfig = Field(default_factory=EnginePickConfig)
    decode_pick: EnginePickConfig = Field(default_factory=EnginePickConfig)
