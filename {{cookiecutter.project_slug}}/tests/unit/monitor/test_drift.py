"""drift.detect on synthetic data: error rates, power, NaNs, new categories, column rules, not enough data."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.columns import CATEGORICAL, NUMERIC
from {{ cookiecutter.package_name }}.errors import DriftInputError
from {{ cookiecutter.package_name }}.monitor.drift import contract_kinds, detect
from {{ cookiecutter.package_name }}.monitor.drift_report import finite
from {{ cookiecutter.package_name }}.monitor.drift_result import RowCounts
from {{ cookiecutter.package_name }}.monitor.stats import MISSING
from {{ cookiecutter.package_name }}.params import DriftParams

SETTINGS = DriftParams()
RESAMPLES = 100
ROWS = 1000
MIX = (0.5, 0.3, 0.2)
SHIFTED_MIX = (0.35, 0.35, 0.3)
SCALES = (1.0, 5.0, 0.1, 30.0)  # per numeric feature: the shift is in units of each one's sigma


def synthetic(rng: np.random.Generator, rows: int = ROWS, shift: float = 0.0, mix=MIX) -> pd.DataFrame:
    """Four numeric features (the first three shifted by `shift` sigma) and two categorical ones."""
    frame = pd.DataFrame(
        {f"x{i}": rng.normal(100 * i, scale, rows) + (shift * scale if i < 3 else 0) for i, scale in enumerate(SCALES)}
    )
    frame["plan"] = rng.choice(np.array(["basic", "plus", "pro"]), rows, p=mix)
    frame["region"] = rng.choice(np.array(["north", "south", "east", "west"]), rows)
    return frame


def test_no_shift_flags_no_feature_in_at_least_95_percent_of_resamples():
    false_alarms = 0
    for seed in range(RESAMPLES):
        rng = np.random.default_rng(seed)
        result = detect(synthetic(rng), synthetic(rng), SETTINGS)
        false_alarms += bool(result.drifted_features) or result.drift
    assert false_alarms <= 0.05 * RESAMPLES


def test_half_sigma_shift_on_three_features_and_a_new_category_mix_are_found_with_95_percent_power():
    found = dict.fromkeys(["x0", "x1", "x2", "plan"], 0)
    others = 0
    for seed in range(RESAMPLES):
        rng = np.random.default_rng(1000 + seed)
        result = detect(synthetic(rng), synthetic(rng, shift=0.5, mix=SHIFTED_MIX), SETTINGS)
        for name in result.drifted_features:
            if name in found:
                found[name] += 1
            else:
                others += 1
    assert all(hits >= 0.95 * RESAMPLES for hits in found.values()), found
    assert others <= 0.05 * RESAMPLES


def test_a_tiny_shift_at_large_n_is_significant_but_too_small_to_be_drift():
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 100_000)})
    current = pd.DataFrame({"x": rng.normal(0.05, 1, 100_000)})
    entry = detect(reference, current, SETTINGS).features["x"]
    assert entry.p_value_adjusted < 1e-6
    assert entry.statistics.ks_statistic < SETTINGS.ks_statistic
    assert entry.drift is False


def test_a_large_effect_on_a_few_rows_is_not_significant_enough_to_be_drift():
    rng = np.random.default_rng(4)
    reference, current = pd.DataFrame({"x": rng.normal(0, 1, 30)}), pd.DataFrame({"x": rng.normal(0, 1, 30)})
    entry = detect(reference, current, DriftParams(min_rows=30)).features["x"]
    assert entry.statistics.ks_statistic >= SETTINGS.ks_statistic
    assert entry.p_value_adjusted >= SETTINGS.alpha
    assert entry.drift is False


def test_missing_values_are_left_out_of_ks_and_counted_on_their_own():
    rng = np.random.default_rng(3)
    reference, current = synthetic(rng), synthetic(rng)
    for frame in (reference, current):
        frame.loc[frame.index % 10 == 0, ["x0", "plan"]] = np.nan
    result = detect(reference, current, SETTINGS)
    assert result.drifted_features == ()
    assert result.features["x0"].statistics.reference.missing_share == pytest.approx(0.1)
    plan = result.features["plan"].statistics.histogram
    assert plan.reference[plan.categories.index(MISSING)] == pytest.approx(0.1)
    json.dumps(finite(result.to_json()), allow_nan=False)  # the report can be written


def test_new_categories_are_counted_and_make_drift():
    rng = np.random.default_rng(5)
    reference, current = synthetic(rng), synthetic(rng)
    current.loc[current.index < 50, "region"] = "mars"
    entry = detect(reference, current, SETTINGS).features["region"]
    assert entry.statistics.new_categories == ("mars",)
    assert entry.statistics.new_category_share == pytest.approx(0.05)
    assert entry.drift is True


def test_the_dataset_drifts_when_the_share_of_drifted_features_reaches_the_threshold():
    rng = np.random.default_rng(11)
    reference, current = synthetic(rng), synthetic(rng, shift=1.0)  # 3 of 6 features move
    assert detect(reference, current, DriftParams(share=0.5)).dataset_drift is True
    assert detect(reference, current, DriftParams(share=0.6)).dataset_drift is False


def test_fewer_distinct_rows_than_min_rows_is_not_enough_data_with_the_count():
    rng = np.random.default_rng(6)
    reference, current = synthetic(rng), synthetic(rng, rows=SETTINGS.min_rows - 1, shift=3.0)
    result = detect(reference, current, SETTINGS)
    assert result.verdict == "not enough data"
    assert result.drift is False
    assert result.features == {}
    assert result.rows == RowCounts(reference=ROWS, current=SETTINGS.min_rows - 1)
    assert detect(reference, synthetic(rng, rows=SETTINGS.min_rows, shift=3.0), SETTINGS).verdict == "drift found"


def mix(rows: int, share_a: float) -> pd.DataFrame:
    """Exactly `share_a` of the rows in category "a", the rest in "b"."""
    count = round(rows * share_a)
    return pd.DataFrame({"plan": np.repeat(np.array(["a", "b"]), [count, rows - count])})


@pytest.mark.parametrize(("share", "drifts"), [(0.6, False), (0.7, True)])
def test_a_category_mix_shift_gets_the_same_verdict_whatever_the_ratio_of_the_sample_sizes(share, drifts):
    # Cramer's V shrinks with the ratio of the sizes: 50/50 -> 60/40 has V 0.10 at 10k:10k and 0.02 at 1M:10k,
    # so a threshold on it flagged the shift at equal sizes and missed it at unequal ones. The verdict now rests
    # on effect sizes that compare the shares only (Jensen-Shannon distance, new categories).
    equal = detect(mix(10_000, 0.5), mix(10_000, share), SETTINGS).features["plan"]
    unequal = detect(mix(1_000_000, 0.5), mix(10_000, share), SETTINGS).features["plan"]
    assert equal.drift is unequal.drift is drifts
    assert equal.statistics.js_distance == pytest.approx(unequal.statistics.js_distance)
    assert equal.severity == pytest.approx(unequal.severity)
    assert equal.statistics.cramers_v > 4 * unequal.statistics.cramers_v  # still reported, never judged
    assert equal.p_value_adjusted < SETTINGS.alpha
    assert unequal.p_value_adjusted < SETTINGS.alpha


def test_different_feature_columns_are_an_error_that_names_them():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 2.0]})
    with pytest.raises(DriftInputError, match="only in reference: b; only in current: c"):
        detect(frame, frame.rename(columns={"b": "c"}), SETTINGS)


def test_the_stores_fields_and_a_one_sided_target_are_ignored_and_its_prediction_is_tested():
    rng = np.random.default_rng(2)
    reference = synthetic(rng).assign(label=1, **{store.PREDICTION: rng.normal(0, 1, ROWS)})
    current = synthetic(rng).assign(
        **{
            store.ID: [f"r{i}" for i in range(ROWS)],
            store.TS: "2026-11-24T00:00:00Z",
            store.MODEL_VERSION: "pkg:v3",
            store.TRAFFIC: store.LIVE,
            store.UNKNOWN: "",
            store.PREDICTION: rng.normal(2, 1, ROWS),
        }
    )
    result = detect(reference, current, SETTINGS, target="label")
    assert set(result.features) == {"x0", "x1", "x2", "x3", "plan", "region"}
    assert list(result.ignored_columns) == sorted(
        [store.ID, store.MODEL_VERSION, store.TRAFFIC, store.TS, store.UNKNOWN, "label"]
    )
    assert result.target is None
    assert result.prediction.drift is True
    assert result.prediction.column == store.PREDICTION
    assert result.drift is True
    assert result.dataset_drift is False


def test_predictions_standing_in_for_the_reference_are_tested_and_typed_as_the_target():
    rng = np.random.default_rng(12)
    reference = synthetic(rng).assign(label=rng.choice(np.array(["no", "yes"]), ROWS))
    current = synthetic(rng).assign(**{store.PREDICTION: rng.choice(np.array(["no", "yes"]), ROWS, p=[0.2, 0.8])})
    stand_in = pd.Series(rng.choice(np.array(["no", "yes"]), 300), name=store.PREDICTION)
    specs = {name: SimpleNamespace(kind="float", categories=None) for name in ["x0", "x1", "x2", "x3"]}
    specs |= {name: SimpleNamespace(kind="string", categories=None) for name in ["plan", "region"]}
    specs["label"] = SimpleNamespace(kind="string", categories=("no", "yes"))
    contract = SimpleNamespace(names=tuple(specs), column=specs.__getitem__)
    result = detect(reference, current, SETTINGS, target="label", contract=contract, reference_predictions=stand_in)
    assert result.prediction.drift is True
    assert result.prediction.statistics.reference.rows == 300
    assert result.types_from == "contract"
    assert result.drifted_features == ()
    assert detect(reference, current, SETTINGS, target="label").prediction is None  # no stand-in: not tested


def test_kinds_come_from_the_contract_only_when_it_lists_every_column():
    specs = {
        "plan_code": SimpleNamespace(kind="integer", categories=(1, 2, 3)),
        "age": SimpleNamespace(kind="integer", categories=None),
        "member": SimpleNamespace(kind="boolean", categories=None),
    }
    contract = SimpleNamespace(names=tuple(specs), column=specs.__getitem__)
    assert contract_kinds(contract, ["plan_code", "age", "member"]) == {
        "plan_code": CATEGORICAL,
        "age": NUMERIC,
        "member": CATEGORICAL,
    }
    assert contract_kinds(contract, ["plan_code", "unknown"]) is None
    assert contract_kinds(None, ["age"]) is None
