"""A profile in Dynamo's format swept from latency functions, the way Dynamo's profiler sweeps a real
engine: TTFT of a lone prompt at each input length, ITL at each (KV usage, context) a decode engine
can run. Models that are functions (AIConfigurator's, one learnt online) become profiles this way,
so every consumer of a profile uses them unchanged."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .profile import DecodeSamples, EngineProfile, PrefillSamples, ProfileError

__all__ = ["DECODE_CONTEXT", "DECODE_KV_USAGE", "MAX_BATCH", "PREFILL_ISL", "swept_profile"]

PREFILL_ISL = (
    100,
    256,
    512,
    1024,
    2048,
    3072,
    4096,
    6144,
    8192,
    12288,
    16384,
    24576,
    32768,
    49152,
    65536,
    98304,
    131072,
)
DECODE_CONTEXT = (128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
DECODE_KV_USAGE = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
MAX_BATCH = 512  # running requests per decode engine (the simulator's max_decode_batch)


def swept_profile(
    prefill_ms: Callable[[int], float],
    decode_step_ms: Callable[[int, int], float],
    max_kv_tokens: int,
    *,
    prefill_gpus: int,
    decode_gpus: int,
    max_context: int,
    source: str,
    max_batch: int = MAX_BATCH,
) -> EngineProfile:
    """`prefill_ms(isl)`: a lone prompt's prefill; `decode_step_ms(batch, context)`: one decode step of
    `batch` requests of `context` tokens each. Swept up to `max_context` tokens."""
    isl = [n for n in PREFILL_ISL if n <= max_context] or [min(PREFILL_ISL[0], max_context)]
    ttft = [float(prefill_ms(n)) for n in isl]
    prefill_thpt = [n / (t / 1000.0) / prefill_gpus for n, t in zip(isl, ttft, strict=True)]
    kv_usage: list[float] = []
    context_length: list[float] = []
    itl: list[float] = []
    decode_thpt: list[float] = []
    for context in (c for c in DECODE_CONTEXT if c <= max_context):
        # A lone request too: the ITL floor a light load runs at.
        sizes = {max(1, min(max_batch, round(u * max_kv_tokens / context))) for u in DECODE_KV_USAGE}
        for batch in sorted({1} | sizes):
            step_ms = float(decode_step_ms(batch, context))
            kv_usage.append(batch * context / max_kv_tokens)
            context_length.append(float(context))
            itl.append(step_ms)
            decode_thpt.append(batch * 1000.0 / step_ms / decode_gpus)
    values = ttft + itl
    if not itl or not all(np.isfinite(values)) or min(values) <= 0:
        raise ProfileError(f"{source}: a latency came out non-positive or not a number")
    return EngineProfile(
        PrefillSamples(np.array(isl, dtype=np.float64), np.array(ttft), np.array(prefill_thpt)),
        DecodeSamples(
            np.array(kv_usage), np.array(context_length), np.array(itl), np.array(decode_thpt), max_kv_tokens
        ),
        source,
    )
