"""The context a decode batch really holds per request, read from the decode engines' KV against the length mix's."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from planner_sdk import Role, WorkerLoad

from .sizing import LengthMix

__all__ = ["DecodeContext"]

READINGS = 10  # ticks pooled (ten minutes at a 60 s interval)
MIN_RUNNING = 64  # requests decoding across the pooled ticks before the reading counts
BOUNDS = (0.25, 4.0)


class DecodeContext:
    """Observed over modelled context per decoding request, pooled over the last `READINGS` ticks.

    The length mix takes input and output lengths to be independent, so a batch's mean context is a
    prompt and half an output, outputs weighted by how long they stay. Real traffic need not be:
    on the Mooncake synthetic trace the long prompts have short answers, and the batch holds 0.58 of
    what the mix says (its output-weighted prompt is 7.1k tokens where the mean prompt is 15.3k),
    so decode was sized for twice the KV it ran (4-5D where 2D met the ITL). On independent lengths
    the reading is 0.99-1.0.

    Each tick with decode engines reporting their KV (`scheduled_kv_tokens`) and batch
    (`running_requests`) adds that KV and what the mix of the window's requests says the same batch
    holds; the ratio of the sums weights each tick by its batch."""

    def __init__(self) -> None:
        self._readings: deque[tuple[float, float, float]] = deque(maxlen=READINGS)  # (kv, modelled kv, running)

    def observe(self, workers: Iterable[WorkerLoad], mix: LengthMix) -> None:
        kv = running = 0.0
        for worker in workers:
            if worker.role is not Role.DECODE or worker.missing:
                continue
            if worker.scheduled_kv_tokens is None or not worker.running_requests:
                continue
            kv += worker.scheduled_kv_tokens
            running += worker.running_requests
        if running > 0 and mix.context > 0:
            self._readings.append((kv, running * mix.context, running))

    @property
    def ratio(self) -> float:
        """Observed over modelled context; 1 until `MIN_RUNNING` requests have been seen decoding."""
        if sum(running for _, _, running in self._readings) < MIN_RUNNING:
            return 1.0
        observed = sum(kv for kv, _, _ in self._readings)
        modelled = sum(model for _, model, _ in self._readings)
        return min(max(observed / modelled, BOUNDS[0]), BOUNDS[1])

    def mix(self, mix: LengthMix) -> LengthMix:
        """`mix` with the prompt length that gives its batch the context observed: the outputs are
        what the frontend counts, so the prompts the batch holds are what the reading corrects."""
        ratio = self.ratio
        if ratio == 1.0:
            return mix
        isl = max(ratio * mix.context - (mix.context - mix.isl), BOUNDS[0] * mix.isl)
        return LengthMix(isl, mix.osl, mix.isl_cv, mix.osl_cv, mix.burstiness)
