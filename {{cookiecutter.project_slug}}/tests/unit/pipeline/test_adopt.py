import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.io import edit_yaml
from {{ cookiecutter.package_name }}.pipeline.adopt import id_candidates, infer_task, task_settings


@pytest.mark.parametrize(
    ("values", "task", "why"),
    [
        (["churned", "stayed"] * 50, "classification", "it holds 2 labels (churned, stayed)"),
        ([True, False] * 50, "classification", "it holds 2 labels (False, True)"),
        ([1, 2, 3, 4, 5] * 20, "classification", "it holds 5 whole numbers (about 20 rows each)"),
        (list(range(100)), "regression", "it holds 100 distinct whole numbers"),
        ([0.5 * i for i in range(100)], "regression", "it holds 100 distinct numbers"),
    ],
)
def test_the_task_is_inferred_from_the_target_with_a_reason(values, task, why):
    assert infer_task(pd.Series(values)) == (task, why)


def test_a_new_lineage_gets_the_tasks_metric_guardrails_estimator_and_a_floor_on_the_metrics_scale():
    regression = task_settings("regression", pd.Series([10.0, 20.0, 30.0, 40.0]))
    assert regression == {
        "task": "regression",
        "gate.metric": "rmse",
        "gate.guardrails": ["mae"],
        "gate.floor": 11.2,  # predicting the mean: the target's standard deviation, 11.18
        "train.estimator": "ridge",
        "train.params": {"alpha": 1.0},
        "tune.space": {"alpha": {"low": 0.001, "high": 1000.0, "log": True}},
    }
    classification = task_settings("classification", pd.Series(["a", "b"]))
    assert classification["gate.floor"] == 0.6
    assert classification["gate.guardrails"] == ["balanced_accuracy", "log_loss"]


def test_columns_that_look_like_row_ids_are_suggested():
    frame = pd.DataFrame({"customer_id": ["a", "b", "c"], "id": [1, 2, 3], "plan_id": ["x", "x", "y"], "y": [0, 1, 0]})
    assert id_candidates(frame, "y") == ["customer_id", "id"]


def test_editing_yaml_keeps_comments_flow_lists_and_the_comment_after_a_replaced_mapping():
    text = (
        "# head\n"
        "train:\n"
        "  estimator: ridge  # the model\n"
        "  params:\n"
        "    alpha: 1.0\n"
        "  # about one_hot\n"
        "  one_hot:\n"
        "    min_frequency: 5\n"
        "gate:\n"
        "  guardrails: [mae]\n"
        "  floor: null\n"
    )
    changes = {
        "train.estimator": "logistic_regression",
        "train.params": {"C": 1.0, "max_iter": 1000},
        "gate.guardrails": ["balanced_accuracy", "log_loss"],
    }
    assert edit_yaml(text, changes) == (
        "# head\n"
        "train:\n"
        "  estimator: logistic_regression # the model\n"  # ruamel keeps the comment's column where it can
        "  params:\n"
        "    C: 1.0\n"
        "    max_iter: 1000\n"
        "  # about one_hot\n"
        "  one_hot:\n"
        "    min_frequency: 5\n"
        "gate:\n"
        "  guardrails: [balanced_accuracy, log_loss]\n"
        "  floor: null\n"
    )
