"""The decision record: one JSON line per tick with everything that went into it."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from planner_sdk import Observations, Predictions, ReplicaCount, Role

from .invoke import CallTrace
from .safety import Cut

__all__ = ["TickRecord", "DecisionRecorder", "to_jsonable", "OUTCOMES"]

OUTCOMES = (
    "applied",
    "advisory",
    "no_change",
    "skipped_rejected",
    "skipped_timeout",
    "skipped_no_targets",
    "skipped_error",
    "apply_failed",
)


@dataclass
class TickRecord:
    """What one tick saw, asked, decided and why."""

    tick_id: int
    time: float
    slot_seconds: float
    outcome: str = "skipped_no_targets"
    reason: str = ""
    decision_id: int | None = None
    skipped_slots: int = 0
    replicas: Mapping[Role, ReplicaCount] | None = None
    observations: Observations | None = None
    predictions: Predictions | None = None
    calls: list[CallTrace] = field(default_factory=list)
    proposal: dict[Role, int] | None = None
    clamped: dict[Role, int] | None = None
    targets: dict[Role, int] | None = None
    merge_reasons: list[str] = field(default_factory=list)
    clamp_reasons: list[str] = field(default_factory=list)
    safety_reasons: list[str] = field(default_factory=list)
    cuts: list[Cut] = field(default_factory=list)  # where safety kept other counts than were asked
    connector_notes: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    start_lag_ms: float | None = None  # how late after its slot the tick started

    @property
    def changed(self) -> bool:
        return self.outcome in ("applied", "advisory")

    def summary(self) -> str:
        """One concise line for the log."""
        parts = [f"tick {self.tick_id}", self.outcome]
        if self.targets is not None and self.replicas is not None:
            moves = ", ".join(
                f"{role.value} {self.replicas[role].expected}->{n}"
                for role, n in self.targets.items()
                if n != self.replicas[role].expected
            )
            parts.append(moves or "no change")
        if self.cuts:
            parts.append("cut: " + ", ".join(cut.describe() for cut in self.cuts))
        if self.decision_id is not None:
            parts.append(f"decision {self.decision_id}")
        if self.reason:
            parts.append(self.reason)
        return " | ".join(parts)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, role-keyed maps and non-finite floats as plain JSON values."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {to_jsonable(k) if isinstance(k, enum.Enum) else str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class DecisionRecorder:
    """Appends tick records to a JSONL file, one flushed line each."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = self.path.open("a", encoding="utf-8")

    def write(self, record: TickRecord) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps(to_jsonable(record), separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
