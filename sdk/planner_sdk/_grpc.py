"""Typed handles on the generated gRPC modules (grpcio's generator writes untyped code)."""

from __future__ import annotations

from typing import Any

from ._proto.planner.v1 import registry_pb2_grpc as _registry_grpc
from ._proto.planner.v1 import stages_pb2_grpc as _stages_grpc

__all__ = ["registry_grpc", "stages_grpc"]

registry_grpc: Any = _registry_grpc
stages_grpc: Any = _stages_grpc
