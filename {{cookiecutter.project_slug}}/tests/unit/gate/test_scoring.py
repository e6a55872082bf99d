"""What the gate measures (gate/scoring.py): the paired bootstrap, its interval, single-row latency."""

import math

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.gate.scoring import Latency, interval, latency, paired_bootstrap
from {{ cookiecutter.package_name }}.metrics import Predictions


def test_a_model_against_itself_differs_by_zero_in_every_resample():
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 20, 200)
    model = Predictions.from_arrays("regression", actual, actual + rng.normal(0, 5, 200))
    draws = paired_bootstrap(model, model, 100, seed=3)
    assert set(draws) == set(model.scores())
    assert all(len(values) == 100 and not values.any() for values in draws.values())


def test_the_interval_skips_resamples_where_a_metric_is_undefined():
    assert interval(np.array([math.nan, *range(101)]), 0.9) == pytest.approx((5.0, 95.0))
    low, high = interval(np.array([math.nan, math.inf]), 0.9)
    assert math.isnan(low)
    assert math.isnan(high)


def test_latency_is_measured_per_model_on_its_own_columns():
    class Model:
        def __init__(self, columns: list[str]) -> None:
            self.columns = columns

        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            assert list(frame.columns) == self.columns  # its own columns
            assert len(frame) == 1
            return np.zeros(1)

    frames = [pd.DataFrame({"a": [1.0, 2.0]}), pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})]
    measured = latency([Model(["a"]), Model(["a", "b"])], frames, calls=20)
    assert len(measured) == 2
    assert all(isinstance(m, Latency) and 0 <= m.p50_ms <= m.p95_ms for m in measured)
