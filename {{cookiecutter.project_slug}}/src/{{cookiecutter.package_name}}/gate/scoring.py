"""What the gate measures: the paired bootstrap of metric differences (overall and per slice), one model's bootstrap
(the model card's intervals), and single-row `Latency`.

Both models are scored on the same resampled rows (metrics.Predictions), so the noise of the holdout
hits them alike and the interval of the difference is narrower than either model's own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import Predictions

LATENCY_CALLS = 200  # per model, interleaved (A B A B ...): noise hits both alike; a few slow calls move no median


@dataclass(frozen=True)
class Latency:
    """Milliseconds of one single-row predict(): the median and the 95th percentile."""

    p50_ms: float
    p95_ms: float


def paired_bootstrap(champion: Predictions, challenger: Predictions, n: int, seed: int) -> dict[str, np.ndarray]:
    """Per metric, `n` resamples of (challenger - champion), both scored on the same resampled rows."""
    rng = np.random.default_rng(seed)
    size = len(challenger.actual)
    draws: dict[str, list[float]] = {}
    for _ in range(n):
        rows = rng.integers(0, size, size)
        before, after = champion.scores(rows), challenger.scores(rows)
        for name, value in after.items():
            draws.setdefault(name, []).append(value - before[name])
    return {name: np.asarray(values) for name, values in draws.items()}


def bootstrap_scores(predictions: Predictions, n: int, seed: int) -> dict[str, np.ndarray]:
    """Per metric, `n` resamples of one model's score (the model card's intervals)."""
    rng = np.random.default_rng(seed)
    size = len(predictions.actual)
    draws: dict[str, list[float]] = {}
    for _ in range(n):
        for name, value in predictions.scores(rng.integers(0, size, size)).items():
            draws.setdefault(name, []).append(value)
    return {name: np.asarray(values) for name, values in draws.items()}


def sliced_bootstrap(models: list[Predictions], masks: np.ndarray, metric: str, n: int, seed: int) -> np.ndarray:
    """The paired bootstrap per slice: `n` resamples of the holdout's rows (as `paired_bootstrap` draws them), each
    model scored on the resampled rows of each slice and on all of them.

    `masks` (slices x rows, bool) says which rows each slice holds. The result has shape (n, models, slices + 1):
    the metric of each model on each slice's resampled rows, then on all of them (nan where a slice drew no row
    or the metric is undefined there), so that differences, gaps and the worst slice come from the same draws.
    """
    rng = np.random.default_rng(seed)
    size = int(masks.shape[1])
    draws = np.full((n, len(models), masks.shape[0] + 1), np.nan)
    for index in range(n):
        rows = rng.integers(0, size, size)
        chosen = masks[:, rows]
        for position, model in enumerate(models):
            for slice_index, inside in enumerate(chosen):
                if inside.any():
                    draws[index, position, slice_index] = model.scores(rows[inside])[metric]
            draws[index, position, -1] = model.scores(rows)[metric]
    return draws


def interval(differences: np.ndarray, confidence: float) -> tuple[float, float]:
    """Two-sided percentile interval of the bootstrap differences (resamples where a metric is undefined skipped)."""
    finite = differences[np.isfinite(differences)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def latency(models: list[Any], inputs: list[pd.DataFrame], calls: int = LATENCY_CALLS) -> list[Latency]:
    """The single-row latency of each model (each on its own input columns), calls interleaved."""
    rows = [[frame.iloc[[i % len(frame)]] for frame in inputs] for i in range(calls)]
    timings: list[list[float]] = [[] for _ in models]
    for row in rows[:5]:  # warm-up
        for model, single in zip(models, row, strict=True):
            model.predict(single)
    for row in rows:
        for model, single, spent in zip(models, row, timings, strict=True):
            started = time.perf_counter()
            model.predict(single)
            spent.append((time.perf_counter() - started) * 1000)
    return [Latency(float(np.percentile(t, 50)), float(np.percentile(t, 95))) for t in timings]
