"""PREDICT: a chain by ascending priority; first writer wins per field; `final` stops it."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from planner_sdk import Predictions, PredictResult, TickContext

from ..registry import RegisteredPlugin
from .invoke import CallOutcome, CallSettings, run_plugin

__all__ = ["fill_predictions", "run_predict_chain"]


def fill_predictions(current: Predictions, offered: Predictions) -> Predictions:
    """Keep what is already predicted; take the offered value only where the field is unset.

    A path of counts ahead comes only with the count it starts from: one plugin's path must not
    be read as the continuation of another plugin's count."""
    updates = {
        f.name: getattr(offered, f.name)
        for f in dataclasses.fields(current)
        if getattr(current, f.name) is None and getattr(offered, f.name) is not None
    }
    if "num_requests" not in updates:
        updates.pop("num_requests_ahead", None)
    return dataclasses.replace(current, **updates) if updates else current


async def run_predict_chain(
    entries: list[RegisteredPlugin], ctx: TickContext, slot: Fraction, settings: CallSettings
) -> tuple[Predictions, list[CallOutcome]]:
    """Each plugin sees the predictions made before it in the chain."""
    predictions = ctx.predictions
    outcomes: list[CallOutcome] = []
    for entry in entries:
        outcome = await run_plugin(entry, dataclasses.replace(ctx, predictions=predictions), slot, settings)
        outcomes.append(outcome)
        if outcome.rejects_tick:
            break
        if outcome.contribution is None:
            continue
        result = outcome.contribution.result
        assert isinstance(result, PredictResult)
        predictions = fill_predictions(predictions, result.predictions)
        if result.final:
            break
    return predictions, outcomes
