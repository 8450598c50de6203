"""The last decision id, kept beside the decision record so a restarted planner never reuses one."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["DecisionIdStore"]

log = logging.getLogger("planner")


class DecisionIdStore:
    """`<decision_record_path>.state.json` holds `{"last_decision_id": N}`, replaced atomically (and
    synced) as each id is handed out, before the decision is applied: a planner killed mid-apply
    comes back past that id. With no state file yet, the record's own highest id counts (a planner
    upgraded in place, or a state file deleted on purpose)."""

    def __init__(self, record_path: str | Path) -> None:
        self.record_path = Path(record_path)
        self.path = self.record_path.with_name(self.record_path.name + ".state.json")

    def load(self) -> int:
        if self.path.exists():
            try:
                value = json.loads(self.path.read_text(encoding="utf-8"))["last_decision_id"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    [f"decision state {str(self.path)!r} cannot be read ({type(exc).__name__}: {exc}); "
                     "delete it to continue from the decision record's ids"]
                ) from None  # fmt: skip
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError([f"decision state {str(self.path)!r}: last_decision_id={value!r} is no id"])
            return value
        return self._highest_recorded()

    def _highest_recorded(self) -> int:
        if not self.record_path.exists():
            return 0
        highest = 0
        with self.record_path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    decision_id = json.loads(line).get("decision_id")
                except (ValueError, AttributeError):
                    continue  # a line cut short by a crash
                if isinstance(decision_id, int) and not isinstance(decision_id, bool):
                    highest = max(highest, decision_id)
        return highest

    def save(self, decision_id: int) -> None:
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as state:
                json.dump({"last_decision_id": decision_id}, state)
                state.flush()
                os.fsync(state.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:  # the decision stands; only a restart could reuse its id
            log.error("decision %d: could not save the last decision id to %s: %s", decision_id, self.path, exc)
