"""The search's parts (pipeline/tune.py): the space, the folds, the pruner, the one-standard-error rule, the lock."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.params import TUNE_SPACES, Params, SearchRange
from {{ cookiecutter.package_name }}.pipeline.tune import (
    Decision,
    Pruning,
    check_space,
    distributions,
    evaluated,
    make_folds,
    open_study,
    single_run,
)

PROJECT = Path(__file__).resolve().parents[3]


def test_the_space_becomes_optuna_distributions():
    space = {
        "C": SearchRange(low=0.001, high=100.0, log=True),
        "max_depth": SearchRange(low=2, high=12),
        "class_weight": SearchRange(choices=(None, "balanced")),
    }
    found = distributions(space)
    assert found["C"] == FloatDistribution(0.001, 100.0, log=True)
    assert found["max_depth"] == IntDistribution(2, 12)
    assert found["class_weight"] == CategoricalDistribution([None, "balanced"])


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"low": 1.0}, "give low and high"),
        ({"low": 5, "high": 1}, "must be below high"),
        ({"low": 0.0, "high": 1.0, "log": True}, "log scale needs low > 0"),
        ({"choices": []}, "non-empty list"),
        ({"choices": [1, 2], "low": 0.0, "high": 1.0}, "not both"),
    ],
)
def test_a_search_range_needs_bounds_or_choices(spec, problem):
    with pytest.raises(ValueError, match=problem):
        SearchRange.model_validate(spec)


def test_real_numbers_are_scored_with_three_significant_digits():
    assert evaluated({"C": 0.0123456789, "alpha": 12345.678, "depth": 7, "kind": None}) == {
        "C": 0.0123,
        "alpha": 12300.0,
        "depth": 7,
        "kind": None,
    }


def test_folds_are_seeded_stratified_and_score_every_row_once():
    target = pd.Series(["yes"] * 30 + ["no"] * 70)
    folds = make_folds(target, "classification", 5, seed=3)
    scored = np.sort(np.concatenate([score for _, score in folds]))
    assert (scored == np.arange(100)).all()
    assert all(set(fit).isdisjoint(score) for fit, score in folds)
    assert all((target.iloc[score] == "yes").sum() == 6 for _, score in folds)
    again = make_folds(target, "classification", 5, seed=3)
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))
    with pytest.raises(ProjectError, match="too few"):
        make_folds(target.iloc[:7], "regression", 5, seed=3)


def test_the_median_pruner_stops_a_trial_below_the_completed_trials_median():
    history = tuple((0.9, 0.9, 0.9) for _ in range(5))
    judge = Pruning(maximize=True, history=history, startup_trials=5, warmup_folds=2).judge()
    assert judge(0, 0.5) is False  # one fold scored: too early to tell
    assert judge(1, 0.5) is True
    assert Pruning(True, history[:4], startup_trials=5, warmup_folds=2).judge()(1, 0.5) is False  # too few trials
    assert Pruning(False, history, startup_trials=5, warmup_folds=2).judge()(1, 0.5) is False  # lower is better


def decision(best, current, no_skill, maximize=True, best_params=None) -> Decision:
    return Decision(
        metric="roc_auc" if maximize else "rmse",
        maximize=maximize,
        current_params={"C": 1.0},
        best_params={"C": 0.5} if best_params is None else best_params,
        current=tuple(current),
        best=tuple(best),
        no_skill=tuple(no_skill),
        search_current=tuple(current),
        search_best=tuple(best),
    )


def test_new_params_must_beat_the_current_ones_and_no_skill_by_one_standard_error():
    # the best's fold scores have a standard error of 0.01
    best = [0.88, 0.90, 0.92, 0.86, 0.94]
    clear = decision(best, [0.84] * 5, [0.5] * 5)
    assert clear.best_se == pytest.approx(0.0141, abs=1e-4)
    assert clear.improvement == pytest.approx(0.06)
    assert clear.justified
    assert "more than one standard error" in clear.sentence(applied=True)
    within = decision(best, [0.89] * 5, [0.5] * 5)
    assert not within.justified
    assert "within one standard error" in within.sentence(applied=False)
    chance = decision([0.45, 0.60, 0.50, 0.55, 0.50], [0.45] * 5, [0.5] * 5)  # better than the current, at chance
    assert not chance.justified
    assert "a model that learned nothing" in chance.sentence(applied=False)
    same = decision(best, [0.8] * 5, [0.5] * 5, best_params={"C": 1.0})
    assert not same.justified
    assert "the best trial is the current train.params" in same.sentence(applied=False)


def test_lower_is_better_metrics_gain_by_going_down():
    lower = decision([50.0, 52.0, 48.0, 51.0, 49.0], [60.0] * 5, [77.0] * 5, maximize=False)
    assert lower.improvement == pytest.approx(10.0)
    assert lower.justified


def test_the_shipped_params_search_the_default_estimators_space():
    params = Params.model_validate(yaml.safe_load((PROJECT / "params.yaml").read_text()))
    shipped = {
        name: spec.model_dump(exclude_none=True, exclude_defaults=True) for name, spec in params.tune.space.items()
    }
    wanted = {
        name: SearchRange.model_validate(spec).model_dump(exclude_none=True, exclude_defaults=True)
        for name, spec in TUNE_SPACES[params.task].items()
    }
    assert shipped == wanted
    check_space(params)


def test_a_space_the_estimator_cannot_take_is_one_clear_error():
    params = Params.model_validate(
        {
            "task": "regression",
            "data": {"source": "x.csv", "target": "y"},
            "train": {"estimator": "ridge"},
            "tune": {"space": {"C": {"low": 0.1, "high": 1.0}}},
        }
    )
    with pytest.raises(ProjectError, match="Ridge has no argument 'C'"):
        check_space(params)
    with pytest.raises(ProjectError, match="tune.space is empty"):
        check_space(params.model_copy(update={"tune": params.tune.model_copy(update={"space": {}})}))


def test_one_search_at_a_time_on_a_journal(tmp_path):
    journal = tmp_path / "reports" / "tune.journal"
    with single_run(journal), pytest.raises(ProjectError, match="another tune is running"), single_run(journal):
        pass
    with single_run(journal):  # released when the first run ends
        pass


def test_a_changed_search_replaces_the_journal_and_a_half_written_entry_is_dropped(tmp_path):
    journal = tmp_path / "tune.journal"
    study, new = open_study(journal, "tune-a", maximize=True)
    study.set_user_attr("kept", 1)
    assert new
    with journal.open("ab") as log:
        log.write(b'{"op_code": 5, "half-writ')  # a run killed while appending
    study, new = open_study(journal, "tune-a", maximize=True)
    assert (new, study.user_attrs) == (False, {"kept": 1})
    study, new = open_study(journal, "tune-b", maximize=False)
    assert new
    assert study.user_attrs == {}
