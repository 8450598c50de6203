"""Request traces: the readers behind warm starts, replays and benchmarks."""

from __future__ import annotations

from .reader import (
    Trace,
    TraceError,
    TraceRequest,
    iter_windows,
    load_trace,
    poisson_trace,
    read_azure_csv,
    read_mooncake,
    scale_rate,
    synthetic_trace,
)

__all__ = [
    "Trace",
    "TraceError",
    "TraceRequest",
    "iter_windows",
    "load_trace",
    "poisson_trace",
    "read_azure_csv",
    "read_mooncake",
    "scale_rate",
    "synthetic_trace",
]
