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


def test_the_holdouts_rows_are_found_in_the_champions_own_test_split_by_id_or_row_hash():
    import pandas as pd

    from {{ cookiecutter.package_name }}.gate.holdout import rows_in_champion_test

    holdout = pd.DataFrame({"id": [3, 1, 9], "a": [30.0, 10.0, 90.0], "y": ["x", "y", "x"]})
    champion_test = pd.DataFrame({"id": [1, 2, 3], "a": [10.0, 20.0, 30.0], "b": [1, 2, 3], "y": ["y", "x", "x"]})
    by_id = rows_in_champion_test(holdout, champion_test, "id")
    assert by_id.mask.tolist() == [True, True, False]
    assert by_id.features["b"].tolist() == [3, 1]  # in holdout order
    assert by_id.matched_by == "the id column id"
    by_hash = rows_in_champion_test(holdout.drop(columns="id"), champion_test, None)
    assert by_hash.mask.tolist() == [True, True, False]
    assert by_hash.features["b"].tolist() == [3, 1]
    assert by_hash.matched_by == "a hash of the 2 columns both have"


def test_a_key_that_several_different_champion_rows_share_finds_none_of_them():
    """Without an id, rows alike on the shared columns but not on the champion's own: which is the holdout's row cannot
    be told (the first would score the champion on another row's values); exact duplicates are found."""
    from {{ cookiecutter.package_name }}.gate.holdout import rows_in_champion_test

    holdout = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": ["x", "x", "y"]})
    champion_test = pd.DataFrame({"a": [1.0, 1.0, 2.0, 2.0, 3.0], "b": [5, 6, 7, 7, 8], "y": ["x", "x", "x", "x", "y"]})
    found = rows_in_champion_test(holdout, champion_test, None)
    assert found.mask.tolist() == [False, True, True]  # a=1 is b 5 or b 6; a=2 is b 7 twice: the same row
    assert found.features["b"].tolist() == [7, 8]
