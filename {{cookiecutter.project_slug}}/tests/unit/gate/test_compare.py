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
