"""The compare command's pieces (gate/compare.py) that need no registry: each model's own input columns."""

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.gate.compare import model_inputs


def test_each_model_reads_the_columns_it_was_trained_on_even_after_a_schema_change():
    class Trained:
        feature_names_in_ = np.array(["a", "dropped"])

    frame = pd.DataFrame({"a": [1.0, 2.0], "added": [3.0, 4.0]})
    inputs, missing = model_inputs(Trained(), frame, default=["a", "added"])
    assert list(inputs.columns) == ["a", "dropped"]
    assert inputs["dropped"].isna().all()
    assert missing == ["dropped"]
    plain, none_missing = model_inputs(object(), frame, default=["a", "added"])  # no feature names: the default
    assert list(plain.columns) == ["a", "added"]
    assert none_missing == []


def test_a_champion_that_cannot_be_scored_on_its_own_columns_blocks_unless_overridden():
    import pandas as pd

    from {{ cookiecutter.package_name }}.gate.compare import own_columns_check
    from {{ cookiecutter.package_name }}.gate.holdout import OwnRows
    from {{ cookiecutter.package_name }}.gate.policy import GatePolicy

    policy = GatePolicy("roc_auc", 0.25, (), None, 1000, 0.95, 50, None, None, 1)
    few = OwnRows(pd.Series([True] * 10 + [False] * 90), pd.DataFrame(), "the id column id")
    blocked = own_columns_check(few, 100, ["income", "age"], policy, override=False)
    assert not blocked.passed
    assert blocked.failure.startswith("the challenger's data lacks the champion's columns income, age, and only 10 of")
    assert "Gate-Override" in blocked.failure
    assert own_columns_check(few, 100, ["income"], policy, override=True).passed
    many = OwnRows(pd.Series([True] * 60 + [False] * 40), pd.DataFrame(), "the id column id")
    assert own_columns_check(many, 100, ["income"], policy, override=False).passed
