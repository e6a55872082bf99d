"""Score drift (monitor/score_drift.py): each model version's logged scores against the production model's on its
holdout, where the hard classes hide a change."""

import numpy as np
import pandas as pd
import pyarrow as pa

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.monitor.drift import detect
from {{ cookiecutter.package_name }}.monitor.score_drift import logged_scores, score_drift
from {{ cookiecutter.package_name }}.monitor.traffic import LiveRows
from {{ cookiecutter.package_name }}.params import DriftParams

SETTINGS = DriftParams()
CUT = 2.326  # P(x > CUT) = 1 % for a standard normal x: the holdout's positive rate


class Classifier:
    """A fitted binary classifier as monitor sees one: P(yes) rises steeply past CUT (`slope` sets how steeply)."""

    classes_ = np.array(["no", "yes"])
    feature_names_in_ = np.array(["x"])

    def __init__(self, slope: float = 3.0) -> None:
        self.slope = slope

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        yes = 1 / (1 + np.exp(-self.slope * (frame["x"].to_numpy(dtype=float) - CUT)))
        return np.column_stack([1 - yes, yes])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classes_[(self.predict_proba(frame)[:, 1] > 0.5).astype(int)]


class Regressor:
    feature_names_in_ = np.array(["x"])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return 10 + 2 * frame["x"].to_numpy(dtype=float)


def logged(model, x: np.ndarray, version: str = "my_model:prod") -> pd.DataFrame:
    """Live rows as the service logs them: the feature, the version, the prediction and the class probabilities."""
    frame = pd.DataFrame({"x": x})
    rows = frame.assign(**{store.MODEL_VERSION: version, store.PREDICTION: model.predict(frame)})
    if hasattr(model, "predict_proba"):
        names = [str(name) for name in model.classes_]
        probabilities = [dict(zip(names, row, strict=True)) for row in model.predict_proba(frame)]
        rows[store.PROBABILITIES] = probabilities
    return rows


def test_a_positive_rate_of_1_to_3_percent_is_score_drift_where_the_hard_classes_show_none():
    rng = np.random.default_rng(0)
    model = Classifier()
    holdout = pd.DataFrame({"x": rng.normal(0, 1, 5000)})
    live = logged(model, rng.normal(0.45, 1, 5000))  # P(x > CUT) = 3 %
    assert (live[store.PREDICTION] == "yes").mean() > 0.025
    reference = pd.Series(model.predict(holdout), name=store.PREDICTION)
    classes = detect(holdout, live.drop(columns=store.PROBABILITIES), SETTINGS, reference_predictions=reference)
    assert classes.prediction is not None
    assert classes.prediction.drift is False
    [(version, found)] = score_drift(live, model, holdout, "classification", SETTINGS).items()
    assert version == "my_model:prod"
    assert found.score == "P(yes)"
    assert found.drifted is True
    assert found.same_as_production is True
    assert found.counted is True
    assert found.ks_statistic >= found.thresholds["ks_statistic"]


def test_the_production_models_scores_on_holdout_like_rows_are_no_drift():
    rng = np.random.default_rng(1)
    model = Classifier()
    holdout = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    [found] = score_drift(logged(model, rng.normal(0, 1, 3000)), model, holdout, "classification", SETTINGS).values()
    assert (found.drifted, found.counted) == (False, False)
    assert found.ks_statistic < found.thresholds["ks_statistic"]


def test_each_version_is_judged_alone_and_another_models_drift_is_reported_not_counted():
    rng = np.random.default_rng(2)
    model = Classifier()
    holdout = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    production = logged(model, rng.normal(0, 1, 2000), "my_model:prod")
    canary = logged(Classifier(slope=1.0), rng.normal(0, 1, 2000), "my_model:canary")  # other scores, same inputs
    found = score_drift(pd.concat([production, canary], ignore_index=True), model, holdout, "classification", SETTINGS)
    assert set(found) == {"my_model:prod", "my_model:canary"}
    assert (found["my_model:prod"].drifted, found["my_model:prod"].rows) == (False, 2000)
    assert found["my_model:canary"].drifted is True
    assert (found["my_model:canary"].same_as_production, found["my_model:canary"].counted) == (False, False)
    hidden = score_drift(canary, model, holdout, "classification", SETTINGS, hidden={"x"})  # x hashed in the log
    assert (hidden["my_model:canary"].same_as_production, hidden["my_model:canary"].counted) == (None, True)


def test_a_regressors_predictions_are_its_scores():
    rng = np.random.default_rng(3)
    model = Regressor()
    holdout = pd.DataFrame({"x": rng.normal(0, 1, 2000)})
    [moved] = score_drift(logged(model, rng.normal(0.3, 1, 2000)), model, holdout, "regression", SETTINGS).values()
    assert moved.score == "prediction"
    assert moved.drifted is moved.counted is True


def test_the_scores_read_from_the_arrow_table_are_those_of_the_dataframe():
    rows = logged(Classifier(), np.random.default_rng(4).normal(0, 1, 100))
    table = pa.Table.from_pandas(rows, preserve_index=False)
    keep = np.arange(100) % 3 > 0
    from_arrow = logged_scores(LiveRows(table, keep), ["yes"])
    from_pandas = logged_scores(rows[keep].reset_index(drop=True), ["yes"])
    assert from_arrow[store.MODEL_VERSION].astype(str).tolist() == from_pandas[store.MODEL_VERSION].tolist()
    np.testing.assert_allclose(from_arrow["yes"], from_pandas["yes"])
