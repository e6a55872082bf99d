"""What the gate measures: the paired bootstrap of metric differences, and single-row `Latency`.

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
