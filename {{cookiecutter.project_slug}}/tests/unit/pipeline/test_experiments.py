"""`experiments` (pipeline/experiments.py): `dvc exp show --json` as one table, best first by the gate's metric."""

import json

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.pipeline import experiments
from {{ cookiecutter.package_name }}.pipeline.experiments import ranked, rows, table


def entry(rev, name, alpha, rmse, **extra):
    params = {"params.yaml": {"data": {"seed": 1, "train": {"params": {"alpha": alpha}}, **extra}}}
    metrics = {"reports/metrics.json": {"data": {"rmse": rmse, "mae": rmse * 0.8, "test_rows": 89}}} if rmse else {}
    return {"rev": rev, "name": name, "data": {"params": params, "metrics": metrics}, "error": None}


SHOWN = [
    {
        **entry("workspace", None, 1.0, 55.0),
        "experiments": None,
    },
    {
        **entry("a" * 40, "main", 1.0, 55.0, new_section={"x": 1}),
        "experiments": [
            {"name": "big-alpha", "executor": None, "revs": [entry("b" * 40, "big-alpha", 100.0, 61.0)]},
            {"name": "small-alpha", "executor": None, "revs": [entry("c" * 40, "small-alpha", 0.1, 53.5)]},
            {
                "name": "waiting",
                "executor": {"state": "Queued", "name": "dvc-task", "local": None},
                "revs": [entry("d" * 40, "waiting", 10.0, None)],
            },
        ],
    },
]


def test_rows_are_ranked_by_the_metric_in_its_direction_with_the_params_they_changed():
    found = ranked(rows(SHOWN), "rmse")
    assert [row.name for row in found] == ["small-alpha", "workspace", "main", "big-alpha", "waiting"]
    assert [row.state for row in found] == ["done", "done", "done", "done", "queued"]
    text = table(found, "rmse", "regression")
    header, _, first, *_ = text.splitlines()
    assert header == "| experiment | rev | state | **rmse** | mae | train.params.alpha |"
    assert first == "| small-alpha | ccccccc | done | 53.5000 | 42.8000 | 0.1 |"
    assert "new_section" not in text  # a key only one commit's params.yaml has is no experiment's change
    assert text.splitlines()[-1] == "| waiting | ddddddd | queued | — | — | 10.0 |"


def test_higher_is_better_metrics_rank_the_other_way():
    shown = [{**entry("e" * 40, "x", 1.0, None), "experiments": None}]
    shown[0]["data"]["metrics"] = {"reports/metrics.json": {"data": {"roc_auc": 0.9}}}
    other = {**entry("f" * 40, "y", 2.0, None), "experiments": None}
    other["data"]["metrics"] = {"reports/metrics.json": {"data": {"roc_auc": 0.95}}}
    assert [row.name for row in ranked(rows([*shown, other]), "roc_auc")] == ["y", "x"]


def test_the_command_prints_the_table_and_warns_against_picking_on_the_test_split(
    workdir, write_params, monkeypatch, capsys
):
    write_params(workdir, task="regression", train={"estimator": "ridge", "params": {}}, gate={"metric": "rmse"})
    asked = []
    monkeypatch.setattr(experiments, "dvc", lambda *args: asked.append(args) or json.dumps(SHOWN))
    assert main(["experiments", "--all-commits"]) == 0
    assert asked == [("exp", "show", "--json", "--all-commits")]
    out = capsys.readouterr().out
    assert out.index("small-alpha") < out.index("big-alpha")
    assert "on the test split" in out
    assert "`make tune` selects by cross-validation on the train split" in out


def test_dvc_printing_no_json_is_one_line_and_exit_2(workdir, write_params, monkeypatch, capsys):
    write_params(workdir)
    monkeypatch.setattr(experiments, "dvc", lambda *args: "not json")
    assert main(["experiments"]) == 2
    assert "printed no JSON" in capsys.readouterr().err
