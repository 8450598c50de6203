"""The engine performance model, from profiling data in Dynamo's format."""

from __future__ import annotations

from .model import DecodeModel, DecodeOperatingPoint, MixedStep, PerfModel, PrefillModel
from .profile import BUNDLED_PROFILE_DIR, DecodeSamples, EngineProfile, PrefillSamples, ProfileError, load_profile

__all__ = [
    "BUNDLED_PROFILE_DIR",
    "DecodeModel",
    "DecodeOperatingPoint",
    "DecodeSamples",
    "EngineProfile",
    "MixedStep",
    "PerfModel",
    "PrefillModel",
    "PrefillSamples",
    "ProfileError",
    "load_profile",
]
