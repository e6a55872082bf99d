import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.params import Params
from {{ cookiecutter.package_name }}.pipeline.data import hash_fraction, ingest, normalise_columns, snake_case, split


def params_for(task: str = "classification", **data: object) -> Params:
    return Params.model_validate(
        {
            "seed": 3,
            "task": task,
            "data": {"source": "unused.csv", "target": "churn", **data},
            "train": {"estimator": "dummy"},
        }
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Mean Radius", "mean_radius"),
        ("petalWidth", "petal_width"),
        ("Sepal Length (cm)", "sepal_length_cm"),
        ("  spaced  out ", "spaced_out"),
        ("2nd Visit", "c_2nd_visit"),
        ("Größe", "größe"),
        ("%", "column"),
    ],
)
def test_snake_case(name, expected):
    assert snake_case(name) == expected


def test_normalise_columns_refuses_names_that_collide():
    with pytest.raises(ProjectError, match="'A b' and 'a_b' both become 'a_b'"):
        normalise_columns(pd.DataFrame(columns=["A b", "a_b"]))


def test_ingest_bundled_dataset_has_named_labels_and_snake_case_columns():
    frame = ingest("sklearn:breast_cancer", "diagnosis")
    assert frame.shape == (569, 31)
    assert set(frame["diagnosis"]) == {"malignant", "benign"}
    assert "mean_radius" in frame.columns


def test_ingest_names_the_missing_target():
    with pytest.raises(ProjectError, match="target 'label' is not a column"):
        ingest("sklearn:diabetes", "label")


def test_ingest_rejects_an_unknown_bundled_dataset():
    with pytest.raises(ProjectError, match="unknown bundled dataset sklearn:mnist"):
        ingest("sklearn:mnist", "y")


def test_seeded_split_is_deterministic_and_stratified(customers):
    frame = normalise_columns(customers)
    first_train, first_test = split(frame, params_for())
    second_train, second_test = split(frame, params_for())
    pd.testing.assert_frame_equal(first_test, second_test)
    assert len(first_train) + len(first_test) == len(frame)
    overall = (frame["churn"] == "yes").mean()
    assert abs((first_test["churn"] == "yes").mean() - overall) < 0.03


def test_hash_split_keeps_each_row_on_its_side_as_data_grows(make_customers):
    small = normalise_columns(make_customers(rows=300, seed=1))
    grown = normalise_columns(make_customers(rows=900, seed=1))
    params = params_for(id_column="customer_id")
    _, small_test = split(small, params)
    grown_train, grown_test = split(grown, params)
    assert set(small_test["customer_id"]) <= set(grown_test["customer_id"])
    assert not set(small_test["customer_id"]) & set(grown_train["customer_id"])
    assert 0.1 < len(grown_test) / len(grown) < 0.3


def test_hash_fraction_is_stable_across_runs():
    # CRC32 of the id's text, pinned: a different hash would move rows between train and test.
    assert hash_fraction(pd.Series(["C00001", 42])).round(6).tolist() == [0.765492, 0.195872]


def test_hash_split_refuses_missing_ids(customers):
    frame = normalise_columns(customers)
    frame.loc[3, "customer_id"] = None
    with pytest.raises(ProjectError, match="id_column 'customer_id' has missing values"):
        split(frame, params_for(id_column="customer_id"))
