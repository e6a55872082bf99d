"""The holdout (gate/holdout.py): the test rows the champion never trained on."""

import pandas as pd

from {{ cookiecutter.package_name }}.gate.holdout import unseen_rows


def test_the_holdout_leaves_out_the_champions_training_rows_by_id_else_by_row():
    test = pd.DataFrame({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0], "y": ["no", "yes", "no"]})
    train = pd.DataFrame({"id": ["b", "z"], "x": [9.0, 1.0], "y": ["yes", "no"]})
    by_id = unseen_rows(test, train, "id")
    assert by_id.mask.tolist() == [True, False, True]
    assert (by_id.excluded, by_id.matched_by) == (1, "the id column id")
    by_row = unseen_rows(test.drop(columns="id"), train.drop(columns="id"), None)
    assert by_row.mask.tolist() == [False, True, True]  # row a equals z on every shared column
    assert by_row.matched_by == "a hash of the 2 shared columns"
