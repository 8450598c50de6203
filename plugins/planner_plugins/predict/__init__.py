"""Prediction: the load forecasters and builtin_load_predict; builtin_engine_model, the engines' learnt speed."""

from __future__ import annotations

from .engine_model import EngineModelLearn
from .plugin import PREDICTORS, LoadPredict, bucket_trace, make_predictor
from .predictors import (
    ConstantPredictor,
    DriftPredictor,
    EnsemblePredictor,
    ExponentialSmoothingPredictor,
    KalmanPredictor,
    MovingAveragePredictor,
    Predictor,
)
from .statistical import ArimaPredictor, PredictorUnavailableError, ProphetPredictor

__all__ = [
    "PREDICTORS",
    "ArimaPredictor",
    "ConstantPredictor",
    "DriftPredictor",
    "EngineModelLearn",
    "EnsemblePredictor",
    "ExponentialSmoothingPredictor",
    "KalmanPredictor",
    "LoadPredict",
    "MovingAveragePredictor",
    "Predictor",
    "PredictorUnavailableError",
    "ProphetPredictor",
    "bucket_trace",
    "make_predictor",
]
