"""The gate's policy and decision (gate/decision.py) on synthetic scores: what passes, what blocks, what noise does."""

from dataclasses import asdict

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.gate.decision import GatePolicy, decide, judge
from {{ cookiecutter.package_name }}.metrics import GUARDRAILS, PRIMARY_METRIC, Predictions
from {{ cookiecutter.package_name }}.params import DataParams, GateParams, Params, TrainParams


def _params(task: str = "classification", seed: int = 1, **gate: object) -> Params:
    data = DataParams(source="data.csv", target="y")
    return Params(task=task, seed=seed, data=data, train=TrainParams(estimator="dummy"), gate=GateParams(**gate))


def _policy(metric: str = "roc_auc", guardrails: tuple[str, ...] = (), seed: int = 1, **gate: object) -> GatePolicy:
    """The policy of a params.yaml whose gate section says this (no guardrails unless given)."""
    task = "regression" if metric == "rmse" else "classification"
    return GatePolicy.from_params(_params(task, seed, metric=metric, guardrails=guardrails, **gate))


GATE = _policy(bootstrap=300)
ROWS = 300


def _labels(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=ROWS)
    actual = np.where(signal + rng.normal(scale=0.8, size=ROWS) > 0, "yes", "no")
    return actual, signal


def _scored(actual: np.ndarray, score: np.ndarray) -> Predictions:
    """A binary classifier's output from a real-valued score (higher = more likely 'yes')."""
    proba_yes = 1 / (1 + np.exp(-score))
    predicted = np.where(proba_yes > 0.5, "yes", "no")
    return Predictions.from_arrays("classification", actual, predicted, np.c_[1 - proba_yes, proba_yes], ["no", "yes"])


def _judge(champion: Predictions, challenger: Predictions, policy: GatePolicy = GATE):
    return judge(champion, challenger, policy)


def test_a_clearly_better_challenger_passes_as_better():
    actual, signal = _labels()
    noise = np.random.default_rng(1).normal(scale=2.0, size=ROWS)
    decision, deltas = _judge(_scored(actual, signal + noise), _scored(actual, signal))
    assert decision.passed
    assert decision.verdict.startswith("PASS: better than the champion on roc_auc")
    assert deltas["roc_auc"]["low"] > 0


def test_a_clearly_worse_challenger_is_blocked_with_the_reason():
    actual, signal = _labels()
    noise = np.random.default_rng(1).normal(scale=2.0, size=ROWS)
    decision, deltas = _judge(_scored(actual, signal), _scored(actual, signal + noise))
    assert not decision.passed
    assert decision.verdict.startswith("BLOCK: roc_auc is worse than the champion's beyond the margin")
    assert deltas["roc_auc"]["high"] < 0
    assert [check.name for check in decision.checks if not check.passed] == ["non-inferiority on roc_auc"]


def test_an_identical_retrain_passes_with_a_zero_interval():
    actual, signal = _labels()
    decision, deltas = _judge(_scored(actual, signal), _scored(actual, signal.copy()))
    assert decision.passed
    assert "no worse than the champion" in decision.verdict
    assert deltas["roc_auc"] == {"delta": 0.0, "low": 0.0, "high": 0.0}


def test_tiny_noise_neither_blocks_nor_counts_as_better():
    actual, signal = _labels()
    jitter = np.random.default_rng(2).normal(scale=0.05, size=ROWS)
    decision, deltas = _judge(_scored(actual, signal), _scored(actual, signal + jitter))
    assert decision.passed
    assert "no worse than the champion" in decision.verdict
    assert deltas["roc_auc"]["low"] < 0 < deltas["roc_auc"]["high"]


def test_a_small_real_loss_beyond_a_tight_margin_blocks():
    actual, signal = _labels()
    noise = np.random.default_rng(1).normal(scale=0.7, size=ROWS)
    tight = _policy(margin=0.05, bootstrap=300)
    loose = _policy(margin=1.0, bootstrap=300)  # the challenger's error may be twice the champion's
    assert not _judge(_scored(actual, signal), _scored(actual, signal + noise), tight)[0].passed
    assert _judge(_scored(actual, signal), _scored(actual, signal + noise), loose)[0].passed


def test_lower_is_better_metrics_are_judged_the_right_way_round():
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 20, ROWS)
    good = Predictions.from_arrays("regression", actual, actual + rng.normal(0, 5, ROWS))
    bad = Predictions.from_arrays("regression", actual, actual + rng.normal(0, 25, ROWS))
    policy = _policy("rmse", floor=30.0, bootstrap=300, seed=0)
    worse, _ = judge(good, bad, policy)
    better, _ = judge(bad, good, policy)
    assert not worse.passed
    assert "rmse is worse" in worse.verdict
    assert better.passed
    assert better.verdict.startswith("PASS: better")


def test_the_margin_is_a_share_of_the_champions_error_not_of_its_score():
    policy = _policy(margin=0.5)
    near_perfect = decide(policy, {"roc_auc": 0.985}, {"roc_auc": 0.99}, {"roc_auc": (-0.006, 0.0)})
    mediocre = decide(policy, {"roc_auc": 0.785}, {"roc_auc": 0.79}, {"roc_auc": (-0.006, 0.0)})
    assert not near_perfect.passed  # error 0.01: at most 0.005 may be lost
    assert mediocre.passed  # error 0.21: up to 0.105
    assert near_perfect.checks[0].limit == "≥ -0.0050 (50% of the champion's error 0.0100)"
    rmse = decide(_policy("rmse", margin=0.5), {"rmse": 59.0}, {"rmse": 40.0}, {"rmse": (0.0, 19.0)})
    assert rmse.passed  # an error metric is its own error: +20 allowed at 40


def test_guardrails_are_judged_like_the_metric():
    scores = {"roc_auc": 0.99, "balanced_accuracy": 0.95, "log_loss": 0.1}
    intervals = {"roc_auc": (-0.001, 0.001), "balanced_accuracy": (-0.2, -0.1), "log_loss": (-0.01, 0.01)}
    decision = decide(_policy(guardrails=("balanced_accuracy", "log_loss")), scores, scores, intervals)
    assert [check.name for check in decision.checks if not check.passed] == ["non-inferiority on balanced_accuracy"]
    assert decision.verdict.startswith("BLOCK: balanced_accuracy is worse than the champion's")


def test_with_no_champion_the_floor_alone_decides_and_the_verdict_says_so():
    policy = _policy(floor=0.7)
    passed = decide(policy, {"roc_auc": 0.9})
    blocked = decide(policy, {"roc_auc": 0.6})
    unset = decide(_policy(), {"roc_auc": 0.51})
    assert passed.passed
    assert passed.verdict == "PASS: no production model yet, judged on the floor alone"
    assert not blocked.passed
    assert blocked.reasons == ["roc_auc 0.6000 is below the floor 0.7"]
    assert unset.passed
    assert "none is set" in unset.verdict


@pytest.mark.parametrize(
    ("latency", "size", "failing"),
    [(2.5, 1.0, ["median single-row latency ratio"]), (1.0, 6.0, ["model size ratio"]), (1.9, 4.9, [])],
)
def test_latency_and_size_guardrails(latency, size, failing):
    scores, intervals = {"roc_auc": 0.95}, {"roc_auc": (-0.001, 0.001)}
    decision = decide(GATE, scores, scores, intervals, latency_ratio=latency, size_ratio=size)
    assert [check.name for check in decision.checks if not check.passed] == failing
    assert decision.passed is (not failing)


def test_guardrails_set_to_null_are_off():
    policy = _policy(max_latency_ratio=None, max_size_ratio=None)
    scores = {"roc_auc": 0.95}
    decision = decide(policy, scores, scores, {"roc_auc": (0.0, 0.0)}, latency_ratio=50.0, size_ratio=50.0)
    assert decision.passed
    assert [c.name for c in decision.checks] == ["non-inferiority on roc_auc"]


def test_the_policy_resolves_the_tasks_metric_and_guardrails_once():
    classification = GatePolicy.from_params(_params())
    assert classification.metric == PRIMARY_METRIC["classification"]
    assert classification.guardrails == tuple(g for g in GUARDRAILS["classification"] if g != classification.metric)
    assert classification.seed == 1
    regression = GatePolicy.from_params(_params("regression", guardrails=["rmse", "mae"], metric="rmse"))
    assert (regression.metric, regression.guardrails, regression.higher_is_better) == ("rmse", ("mae",), False)


def test_the_policy_is_what_compare_json_has_always_reported():
    params = _params(seed=7, floor=0.8, max_size_ratio=None)
    reported = {**params.gate.model_dump(), "metric": "roc_auc", "guardrails": list(params.gate_guardrails), "seed": 7}
    # gate.slices' columns: null (the default columns) is `auto`, the named ones `columns`
    slices = {**reported.pop("slices"), "auto": True, "columns": ()}
    assert {**asdict(GatePolicy.from_params(params)), "guardrails": list(params.gate_guardrails)} == {
        **reported,
        "slices": slices,
    }
