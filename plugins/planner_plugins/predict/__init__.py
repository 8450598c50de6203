"""Load prediction: the forecasters and the builtin_load_predict plugin."""

from __future__ import annotations

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
