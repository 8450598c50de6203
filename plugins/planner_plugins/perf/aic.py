"""Engine profiles from NVIDIA's AIConfigurator (`aiconfigurator-core`): any model it bundles on any GPU
it has measured, swept the way Dynamo's profiler sweeps a real engine, so every consumer of a profile
(the throughput proposer, the simulator) uses it unchanged. Imported only when configured."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .model import PerfModel
from .profile import EngineProfile, ProfileError
from .sweep import MAX_BATCH, PREFILL_ISL, swept_profile

__all__ = [
    "AicSpec",
    "EngineShape",
    "aic_perf_model",
    "aic_profile",
    "perf_model_from_settings",
    "supported_models",
    "supported_systems",
]

BACKENDS = ("vllm", "sglang", "trtllm")
# The engines' own defaults: the share of GPU memory vLLM / SGLang give to weights + KV (of the total),
# TensorRT-LLM to KV (of what the weights leave free); the batch and token limits bound activations.
MEMORY_FRACTION = {"vllm": ("of_total", 0.9), "sglang": ("of_total", 0.9), "trtllm": ("of_free", 0.9)}
MAX_BATCHED_TOKENS = 8192


@dataclass(frozen=True)
class EngineShape:
    """How one engine is split over GPUs (Dynamo's pick): tensor, pipeline and attention-data
    parallel sizes, and the MoE layers' tensor and expert parallel sizes."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    moe_tp: int = 1
    moe_ep: int = 1

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp


@dataclass(frozen=True)
class AicSpec:
    """Dynamo's `aic_perf_model`: which model, on which GPU system, served by which backend."""

    hf_id: str
    system: str
    backend: str = "vllm"
    backend_version: str | None = None  # None: the backend's current version in the library's data
    prefill_pick: EngineShape = field(default_factory=EngineShape)
    decode_pick: EngineShape = field(default_factory=EngineShape)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> AicSpec:
        return cls(
            hf_id=settings["hf_id"],
            system=settings["system"],
            backend=settings.get("backend") or "vllm",
            backend_version=settings.get("backend_version"),
            prefill_pick=EngineShape(**(settings.get("prefill_pick") or {})),
            decode_pick=EngineShape(**(settings.get("decode_pick") or {})),
        )

    def describe(self) -> str:
        version = self.backend_version or "current"
        return f"{self.hf_id} on {self.system} ({self.backend} {version})"


INSTALL_HINT = "aic_perf_model needs aiconfigurator-core: pip install 'planner[aic]' (or 'planner-plugins[aic]')"


def _library() -> ModuleType:
    try:
        sdk = importlib.import_module("aiconfigurator_core.sdk")
    except ImportError:
        raise ProfileError(INSTALL_HINT) from None
    # It logs each fallback data table it reads for ops our models never use: noise to a planner's user.
    logging.getLogger("aiconfigurator_core").setLevel(logging.ERROR)
    return sdk


def _package_dir() -> Path:
    spec = importlib.util.find_spec("aiconfigurator_core")
    if spec is None or not spec.submodule_search_locations:
        raise ProfileError(INSTALL_HINT)
    return Path(next(iter(spec.submodule_search_locations)))


def supported_models() -> list[str]:
    """The Hugging Face ids whose configs the library carries (others would be downloaded: not here)."""
    configs = _package_dir() / "model_configs"
    names = (p.name.removesuffix("_config.json") for p in configs.glob("*_config.json"))
    return sorted(n.replace("--", "/", 1) for n in names if not n.endswith("_hf_quant"))


def supported_systems() -> list[str]:
    """GPU systems with measured kernel data in the library."""
    systems = _package_dir() / "systems"
    return sorted(p.name for p in (systems / "data").iterdir() if p.is_dir() and (systems / f"{p.name}.yaml").is_file())


def _check(spec: AicSpec) -> dict[str, Any]:
    """Refuse what the library would not model faithfully (an unknown system silently gets defaults,
    an unknown model a download) with one line naming what is supported; the model's HF config."""
    models = supported_models()
    if spec.hf_id not in models:
        raise ProfileError(
            f"aic_perf_model.hf_id {spec.hf_id!r} is not a model aiconfigurator-core knows; "
            f"supported: {', '.join(models)}"
        )
    systems = supported_systems()
    if spec.system not in systems:
        raise ProfileError(
            f"aic_perf_model.system {spec.system!r} is not a system aiconfigurator-core has data for; "
            f"supported: {', '.join(systems)}"
        )
    if spec.backend not in BACKENDS:
        raise ProfileError(f"aic_perf_model.backend {spec.backend!r}: supported: {', '.join(BACKENDS)}")
    for role, pick in (("prefill_pick", spec.prefill_pick), ("decode_pick", spec.decode_pick)):
        if min(pick.tp, pick.pp, pick.dp, pick.moe_tp, pick.moe_ep) < 1:
            raise ProfileError(f"aic_perf_model.{role}: every size must be at least 1 (got {pick})")
    config_file = _package_dir() / "model_configs" / f"{spec.hf_id.replace('/', '--', 1)}_config.json"
    loaded: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
    return loaded


def _compile(sdk: ModuleType, spec: AicSpec, pick: EngineShape) -> Any:
    try:
        return sdk.EngineHandle.compile(
            spec.hf_id, spec.system, spec.backend, backend_version=spec.backend_version, tp_size=pick.tp,
            pp_size=pick.pp, attention_dp_size=pick.dp, moe_tp_size=pick.moe_tp, moe_ep_size=pick.moe_ep,
        )  # fmt: skip
    except ValueError as exc:  # the library's own words name the versions it has
        raise ProfileError(f"aic_perf_model {spec.describe()}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # a native library: any failure is this spec's
        raise ProfileError(f"aic_perf_model {spec.describe()} with {pick}: cannot be modelled: {exc}") from None


def _kv_tokens(sdk: ModuleType, spec: AicSpec, pick: EngineShape) -> int:
    kind, fraction = MEMORY_FRACTION[spec.backend]
    try:
        estimate = sdk.estimate_kv_cache(
            spec.hf_id, spec.system, spec.backend, spec.backend_version or "current",
            max_num_tokens=MAX_BATCHED_TOKENS, max_batch_size=MAX_BATCH, memory_fraction_kind=kind,
            memory_fraction_value=fraction, tp_size=pick.tp, pp_size=pick.pp, attention_dp_size=pick.dp,
            moe_tp_size=pick.moe_tp, moe_ep_size=pick.moe_ep,
        )  # fmt: skip
    except Exception as exc:
        raise ProfileError(
            f"aic_perf_model {spec.describe()}: no KV-cache estimate for {pick}: {str(exc).splitlines()[0]}"
        ) from None
    # Per rank: every TP/PP rank holds its share of each token's cache; attention-DP ranks hold their own tokens.
    tokens = int(estimate["total_kv_size_tokens"]) * pick.dp
    if tokens <= 0:
        raise ProfileError(f"aic_perf_model {spec.describe()} with {pick}: the weights leave no room for a KV cache")
    return tokens


def _compiled(spec: AicSpec) -> tuple[EngineProfile, Any]:
    """The library's prefill and decode predictors swept into a profile in Dynamo's format, with the
    KV capacity the backend's memory split leaves; and the compiled decode engine."""
    sdk = _library()
    model_config = _check(spec)
    prefill = _compile(sdk, spec, spec.prefill_pick)
    decode = _compile(sdk, spec, spec.decode_pick)
    dp = spec.decode_pick.dp  # attention-DP ranks each run their share of the engine's batch
    profile = swept_profile(
        lambda isl: float(prefill.predict_prefill_latency(1, isl)),
        lambda batch, context: float(decode.predict_decode_latency(max(1, batch // dp), context, 2)),
        _kv_tokens(sdk, spec, spec.decode_pick),
        prefill_gpus=spec.prefill_pick.gpus,
        decode_gpus=spec.decode_pick.gpus,
        max_context=int(model_config.get("max_position_embeddings") or PREFILL_ISL[-1]),
        source=f"aiconfigurator-core: {spec.describe()}",
        max_batch=MAX_BATCH * dp,
    )
    return profile, decode


def aic_profile(spec: AicSpec) -> EngineProfile:
    """Sweep the library's prefill and decode latency predictors into a profile in Dynamo's format,
    with the KV capacity the backend's memory split leaves."""
    return _compiled(spec)[0]


@functools.lru_cache(maxsize=8)
def aic_perf_model(spec: AicSpec) -> PerfModel:
    """The performance model for `spec` (compiled once per process: a few seconds). Its mixed steps
    (an aggregated engine prefilling while it decodes) are the library's own, on the decode pick's
    engine shape, which an aggregated deployment's engines take."""
    profile, decode = _compiled(spec)
    dp = spec.decode_pick.dp

    def mixed_step(prefill_tokens: float, decode_batch: float, context: float) -> float:
        batch = math.ceil(max(decode_batch, 0.0) / dp)
        return float(decode.mixed_step_latency(round(max(prefill_tokens, 0.0)), batch, max(1, round(context)), 2))

    model = PerfModel.from_profile(profile, spec.decode_pick.gpus, spec.prefill_pick.gpus)
    return dataclasses.replace(model, predicted_mixed_step=mixed_step)


def perf_model_from_settings(settings: Mapping[str, Any]) -> PerfModel:
    """The model for an `aic_perf_model` section as the config holds it."""
    return aic_perf_model(AicSpec.from_settings(settings))
