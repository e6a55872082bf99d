import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.monitor.labels import check_labels, known_label_disagreement, model_error, no_skill_error


def test_the_models_error_is_one_minus_accuracy_or_the_mean_absolute_error():
    assert model_error(pd.Series(["a", "b", "a", "a"]), pd.Series(["a", "a", "a", "b"]), "classification") == 0.5
    assert model_error(pd.Series([1.0, 3.0]), pd.Series([2.0, 1.0]), "regression") == 1.5


def test_a_batch_far_worse_than_the_holdout_is_refused_and_one_as_bad_as_drift_is_not():
    nothing_known = pd.Series(dtype=bool)
    refused = check_labels(0.6, 200, 0.02, nothing_known, "classification", 5.0, 50)
    assert refused.refused
    assert refused.limit == 0.25  # five times the 5 % floor: a near-perfect holdout does not refuse all change
    assert refused.reason == (
        "the production model disagrees with 60% of them against 2.0% on its holdout (limit 0.25): "
        "a labelling problem, not drift"
    )
    assert not check_labels(0.2, 200, 0.02, nothing_known, "classification", 5.0, 50).refused
    assert not check_labels(0.6, 20, 0.02, nothing_known, "classification", 5.0, 50).refused  # too few to judge
    assert not check_labels(0.6, 200, None, nothing_known, "classification", 5.0, 50).refused  # holdout unknown
    assert not check_labels(0.6, 200, 0.02, nothing_known, "classification", None, 50).refused  # check off
    assert check_labels(300.0, 100, 40.0, nothing_known, "regression", 5.0, 50).refused


def test_labels_that_contradict_the_known_ones_are_refused_whatever_the_model_says():
    known = pd.DataFrame({"x": range(20), "c": ["a", "b"] * 10, "y": ["yes", "no"] * 10})
    batch = known.assign(y=["no", "yes"] * 10)  # the same rows, every label flipped
    disagreement = known_label_disagreement(batch, known, ["x", "c"], "y")
    assert disagreement.tolist() == [True] * 20
    check = check_labels(0.1, 20, 0.05, disagreement, "classification", 5.0, 50)
    assert check.refused
    assert "100% of the 20 rows already known carry another label" in check.reason
    agreeing = known_label_disagreement(known.head(12), known, ["x", "c"], "y")
    assert not check_labels(0.1, 12, 0.05, agreeing, "classification", 5.0, 50).refused


def test_a_weak_models_flipped_labels_are_worse_than_no_skill_and_refused_and_shuffled_ones_are_not():
    # a model right on 70 % of the rows: 5 x its 30 % holdout error passes any error, so only no skill can refuse
    rng = np.random.default_rng(0)
    truth = pd.Series(rng.choice(["no", "yes"], 400))
    right = rng.random(400) < 0.7
    predicted = truth.where(right, truth.map({"no": "yes", "yes": "no"}))
    nothing_known = pd.Series(dtype=bool)
    flipped = truth.map({"no": "yes", "yes": "no"})  # a swapped label column
    error = model_error(flipped, predicted, "classification")
    check = check_labels(
        error, 400, 0.3, nothing_known, "classification", 5.0, 50, no_skill_error(flipped, predicted, "classification")
    )
    assert check.limit == 1.5
    assert abs(error - 0.7) < 0.03
    assert check.no_skill_error is not None
    assert abs(check.no_skill_error - 0.5) < 0.02
    assert check.refused
    assert "of predictions unrelated to the labels (limit 0.5" in check.reason
    shuffled = pd.Series(
        rng.permutation(truth.to_numpy())
    )  # labels with nothing to do with the rows: no worse than chance
    error = model_error(shuffled, predicted, "classification")
    assert not check_labels(
        error, 400, 0.3, nothing_known, "classification", 5.0, 50, no_skill_error(shuffled, predicted, "classification")
    ).refused
    honest = model_error(truth, predicted, "classification")
    assert not check_labels(
        honest, 400, 0.3, nothing_known, "classification", 5.0, 50, no_skill_error(truth, predicted, "classification")
    ).refused
    # a regressor whose errors are as large as the spread: an offset label column is worse than its shuffled pairs
    values = pd.Series(rng.normal(0, 1, 400))
    guesses = values + rng.normal(0, 1, 400)
    offset = -values * 1.0 - 1.0
    error = model_error(offset, guesses, "regression")
    assert check_labels(
        error, 400, 1.0, nothing_known, "regression", 5.0, 50, no_skill_error(offset, guesses, "regression")
    ).refused
    assert not check_labels(0.9, 400, 0.3, nothing_known, "classification", None, 50, (0.5, 0.03)).refused  # check off
