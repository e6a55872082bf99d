from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score, roc_auc_score

from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.gate.decision import slice_checks
from {{ cookiecutter.package_name }}.gate.policy import SlicePolicy
from {{ cookiecutter.package_name }}.gate.slices import judge_slices, make_slices, slice_columns, slice_metrics
from {{ cookiecutter.package_name }}.metrics import Predictions
from {{ cookiecutter.package_name }}.params import GateSliceParams

POLICY = SlicePolicy.of(GateSliceParams())


def _table(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.uniform(18, 90, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.35, 0.15]),
            "region": rng.choice(["north", "south"], rows),
            "user": [f"U{i}" for i in range(rows)],
            "label": rng.choice(["no", "yes"], rows),
        }
    )


def _predictions(frame: pd.DataFrame, noise: float, seed: int, worse: pd.Series | None = None) -> Predictions:
    """Probabilities that separate the labels, blurred by `noise` (more where `worse` holds)."""
    rng = np.random.default_rng(seed)
    truth = (frame["label"] == "yes").to_numpy(float)
    blur = np.full(len(frame), noise) if worse is None else np.where(worse, 3.0, noise)
    score = 1 / (1 + np.exp(-(2 * truth - 1 + rng.normal(0, blur))))
    proba = np.column_stack([1 - score, score])
    predicted = np.where(score > 0.5, "yes", "no")
    return Predictions.from_arrays("classification", frame["label"], predicted, proba, ["no", "yes"])


def test_the_default_columns_are_the_categorical_features_with_few_values():
    frame = _table()
    assert slice_columns(frame, POLICY, "label", None) == ["plan", "region"]  # not `user`: one value per row
    assert slice_columns(frame, replace(POLICY, max_values=2), "label", None) == ["region"]
    assert slice_columns(frame, replace(POLICY, auto=False, columns=("age",)), "label", None) == ["age"]
    assert slice_columns(frame, replace(POLICY, auto=False), "label", None) == []
    with pytest.raises(ProjectError, match="gate.slices.columns: label: no such feature"):
        slice_columns(frame, replace(POLICY, columns=("label",)), "label", None)


def test_a_numeric_column_is_cut_into_quantile_bins_and_pairs_are_every_combination():
    frame = _table()
    found = make_slices(frame, ["age", "region"], replace(POLICY, bins=4))
    bins = [s for s in found if s.column == "age"]
    assert len(bins) == 4
    assert sum(s.n for s in bins) == len(frame)
    assert all(abs(s.n - len(frame) / 4) <= 1 for s in bins)
    assert bins[-1].value.endswith("]")  # the last bin holds the largest value
    pairs = [s for s in found if s.pair]
    assert {s.column for s in pairs} == {"age × region"}
    assert len(pairs) == 8
    assert sum(s.n for s in pairs) == len(frame)


def test_slice_metrics_equal_fairlearns_and_a_hand_computation():
    frame = _table()
    predictions = _predictions(frame, 1.0, 0)
    found = make_slices(frame, ["plan"], replace(POLICY, pairs=False))
    table = slice_metrics(predictions, found, min_rows=100)
    positive = predictions.proba[:, 1]
    reference = MetricFrame(
        metrics={"accuracy": accuracy_score},
        y_true=frame["label"],
        y_pred=np.where(predictions.predicted == 1, "yes", "no"),
        sensitive_features=frame["plan"],
    ).by_group
    assert len(table) == 3
    for entry in table:
        rows = (frame["plan"] == entry["value"]).to_numpy()
        assert entry["n"] == rows.sum()
        assert entry["metrics"]["accuracy"] == pytest.approx(reference.loc[entry["value"], "accuracy"], abs=1e-6)
        truth = frame["label"][rows] == "yes"
        assert entry["metrics"]["roc_auc"] == pytest.approx(roc_auc_score(truth, positive[rows]), abs=1e-6)
        assert entry["too_small"] == (rows.sum() < 100)
        assert entry["judged"] == (rows.sum() >= 100)


def _judge(champion, challenger, frame, **policy):
    rule = replace(POLICY, **policy)
    columns = slice_columns(frame, rule, "label", None)
    return judge_slices(champion, challenger, make_slices(frame, columns, rule), columns, "roc_auc", rule, 300, 0.95, 0)


def test_an_identical_model_passes_every_slice():
    frame = _table()
    model = _predictions(frame, 1.0, 0)
    found = _judge(model, model, frame)
    judged = [r for r in found.results if r.verdict in ("pass", "block")]
    assert len(judged) == 5  # plan: 3, region: 2 (each has at least 30 rows)
    assert all(r.verdict == "pass" and r.delta == 0 and r.p_adjusted == 1 for r in judged)
    assert {r.verdict for r in found.results if " × " in r.column} == {"reported"}
    assert found.gap is not None
    assert found.gap.verdict == "pass"
    assert [c.passed for c in slice_checks(found)] == [True, True]


def test_a_challenger_worse_on_one_category_only_is_blocked_there_and_named():
    frame = _table(1200)
    champion = _predictions(frame, 1.0, 0)
    challenger = _predictions(frame, 1.0, 1, worse=frame["plan"] == "pro")
    found = _judge(champion, challenger, frame)
    assert [(r.column, r.value) for r in found.blocked] == [("plan", "pro")]
    blocked = found.blocked[0]
    assert blocked.delta < -blocked.allowed
    assert blocked.high < 0
    assert blocked.p_adjusted < 0.05
    assert blocked.p_adjusted >= blocked.p_value  # Holm never lowers a p-value
    checks = slice_checks(found)
    assert not checks[0].passed
    assert "slice plan = pro" in checks[0].failure
    assert f"{abs(blocked.delta):.4f}" in checks[0].failure


def test_small_slices_are_shown_not_judged():
    frame = _table(100)
    model = _predictions(frame, 1.0, 0)
    found = _judge(model, model, frame, min_rows=40)
    assert {r.value: r.verdict for r in found.results if r.column == "plan"}["pro"] == "too small"
    none = _judge(model, model, frame, min_rows=1000)
    assert slice_checks(none) == []
    assert "no slice has 1000 rows" in none.note
