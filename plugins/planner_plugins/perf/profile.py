"""Load engine profiling data in the format Dynamo's profiler writes (NPZ or JSON)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from planner_sdk import PlannerError

__all__ = [
    "ProfileError",
    "PrefillSamples",
    "DecodeSamples",
    "EngineProfile",
    "load_profile",
    "BUNDLED_PROFILE_DIR",
]

FloatArray = npt.NDArray[np.float64]

BUNDLED_PROFILE_DIR = Path(__file__).parent / "data" / "H200_TP1P_TP1D"
"""Dynamo's public H200 profile (Apache-2.0), for simulations when no profile is given."""

PREFILL_KEYS = ("prefill_isl", "prefill_ttft", "prefill_thpt_per_gpu")
DECODE_KEYS = ("x_kv_usage", "y_context_length", "z_itl", "z_thpt_per_gpu", "max_kv_tokens")


class ProfileError(PlannerError):
    """Profiling data is missing or malformed; the message names the file and the key."""


@dataclass(frozen=True)
class PrefillSamples:
    """Prefill sweep: input length (tokens) -> TTFT (ms) and throughput (tokens/s/GPU)."""

    isl: FloatArray
    ttft_ms: FloatArray
    throughput_per_gpu: FloatArray


@dataclass(frozen=True)
class DecodeSamples:
    """Decode sweep: (KV usage 0..1, context length) -> ITL (ms), throughput (tokens/s/GPU)."""

    kv_usage: FloatArray
    context_length: FloatArray
    itl_ms: FloatArray
    throughput_per_gpu: FloatArray
    max_kv_tokens: int


@dataclass(frozen=True)
class EngineProfile:
    prefill: PrefillSamples
    decode: DecodeSamples
    source: str


def _read(path: Path) -> Mapping[str, Any]:
    try:
        if path.suffix == ".npz":
            with np.load(path) as data:
                return {key: data[key] for key in data.files}
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: cannot be read as {path.suffix[1:].upper()}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ProfileError(f"{path}: top level must be an object with the profiler's keys")
    return loaded


def _array(data: Mapping[str, Any], key: str, path: Path, size: int | None = None) -> FloatArray:
    if key not in data:
        raise ProfileError(f"{path}: missing key {key!r}")
    try:
        array = np.asarray(data[key], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ProfileError(f"{path}: key {key!r} is not a list of numbers") from None
    if array.size == 0 or not np.all(np.isfinite(array)):
        raise ProfileError(f"{path}: key {key!r} must hold finite numbers (got {array.size} values)")
    if size is not None and array.size != size:
        raise ProfileError(f"{path}: key {key!r} has {array.size} values, expected {size} like the others")
    return array


def _find(directory: Path, stage: str) -> Path:
    candidates = [
        directory / f"selected_{stage}_interpolation" / "raw_data.npz",
        directory / f"selected_{stage}_interpolation" / "raw_data.json",
        directory / f"{stage}_raw_data.json",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(str(c.relative_to(directory)) for c in candidates)
    raise ProfileError(f"{directory}: no {stage} profiling data (looked for {tried})")


def _prefill(path: Path) -> PrefillSamples:
    data = _read(path)
    isl = _array(data, "prefill_isl", path)
    ttft = _array(data, "prefill_ttft", path, isl.size)
    thpt = _array(data, "prefill_thpt_per_gpu", path, isl.size)
    if np.any(isl <= 0) or np.any(ttft <= 0) or np.any(thpt <= 0):
        raise ProfileError(f"{path}: prefill_isl, prefill_ttft and prefill_thpt_per_gpu must be > 0")
    order = np.argsort(isl)
    if np.any(np.diff(isl[order]) == 0):
        raise ProfileError(f"{path}: prefill_isl has repeated values")
    return PrefillSamples(isl[order], ttft[order], thpt[order])


def _decode(path: Path) -> DecodeSamples:
    data = _read(path)
    kv = _array(data, "x_kv_usage", path)
    context = _array(data, "y_context_length", path, kv.size)
    itl = _array(data, "z_itl", path, kv.size)
    thpt = _array(data, "z_thpt_per_gpu", path, kv.size)
    max_kv = _array(data, "max_kv_tokens", path)[0]
    if np.any(kv < 0) or np.any(kv > 1.5):
        raise ProfileError(f"{path}: x_kv_usage must be fractions of the KV cache (0..1)")
    if np.any(context <= 0) or np.any(itl <= 0) or np.any(thpt < 0) or not max_kv > 0:
        raise ProfileError(f"{path}: y_context_length, z_itl and max_kv_tokens must be > 0")
    return DecodeSamples(kv, context, itl, thpt, math.floor(max_kv))


def load_profile(directory: str | Path) -> EngineProfile:
    """Read `selected_{prefill,decode}_interpolation/raw_data.npz` (or the JSON forms) from a directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ProfileError(f"profile_results_dir {str(directory)!r} is not a directory")
    return EngineProfile(_prefill(_find(directory, "prefill")), _decode(_find(directory, "decode")), str(directory))
