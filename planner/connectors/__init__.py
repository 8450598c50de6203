"""Connectors: how decisions reach a deployment."""

from __future__ import annotations

from .base import Connector
from .memory import InMemoryConnector

__all__ = ["Connector", "InMemoryConnector"]
