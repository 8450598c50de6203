"""Request lengths a pool serves: their means and spreads, and the tokens a running batch holds."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MAX_ENGINES", "LengthMix"]

MAX_ENGINES = 4096  # the most engines any pool is sized to


@dataclass(frozen=True)
class LengthMix:
    """Request lengths: means and coefficients of variation of input and output tokens."""

    isl: float
    osl: float
    isl_cv: float = 1.0  # unobserved spread is taken as exponential-like: wider than most traffic
    osl_cv: float = 1.0
    burstiness: float = 1.0  # arrivals' variance over mean per short slice: 1 for Poisson

    @property
    def isl_second_moment(self) -> float:
        return self.isl**2 * (1.0 + self.isl_cv**2)

    # A running batch holds each request for as long as it decodes, so its outputs are weighted by
    # their length: a batch's mean output is OSL (1 + cv^2), its second moment OSL^2 (1 + cv^2)(1 + 2 cv^2)
    # (a gamma's; a lognormal's third moment overstates heavy-tailed outputs by half and more).

    @property
    def _batch_osl(self) -> float:
        return self.osl * (1.0 + self.osl_cv**2)

    @property
    def _batch_osl_m2(self) -> float:
        return self.osl**2 * (1.0 + self.osl_cv**2) * (1.0 + 2.0 * self.osl_cv**2)

    @property
    def context(self) -> float:
        """A running batch's mean context per request: a prompt and half an output, outputs weighted
        by how long they keep a request in the batch."""
        return self.isl + self._batch_osl / 2

    @property
    def reserve(self) -> float:
        """A running batch's mean KV reservation per request: its prompt and its whole output."""
        return self.isl + self._batch_osl

    @property
    def reserve_second_moment(self) -> float:
        return self.isl_second_moment + 2 * self.isl * self._batch_osl + self._batch_osl_m2

    def kv_quantile(self, running: float, z: float) -> float:
        """Tokens `running` decoding requests hold at the `z` quantile: a compound Poisson sum of their
        contexts (prompt + a uniform share of the output), widened by the arrivals' burstiness."""
        context_m2 = self.isl_second_moment + self.isl * self._batch_osl + self._batch_osl_m2 / 3
        return running * self.context + z * math.sqrt(running * context_m2 * self.burstiness)

    def isl_quantile(self, z: float) -> float:
        """A lognormal quantile with this mean and spread."""
        sigma = math.sqrt(math.log1p(self.isl_cv**2))
        return self.isl * math.exp(z * sigma - sigma**2 / 2)
