"""`dataset` on a trained repository with a store of labelled live traffic (test_monitor_command's): the rows
that keep the contract become a DVC-tracked data version that ingest reads, the others are quarantined."""

from datetime import timedelta
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }} import io, store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.contract import load_contract
from {{ cookiecutter.package_name }}.params import PRODUCTION_DATA, QUARANTINE_DIR, RAW_DATA, load_params

from .test_monitor_command import traffic, write


def breaking_value(frame: pd.DataFrame) -> tuple[str, object, str]:
    """A feature of the logged rows, a value for it that breaks the contract, and the reason `dataset` gives:
    beyond a numeric range, else outside a category list, else missing where nulls are not allowed."""
    contract = load_contract()
    specs = [contract.column(name) for name in frame.columns if name in contract.names]
    for spec in specs:
        if spec.maximum is not None:
            return spec.name, spec.maximum * 10 + 1e9, f"{spec.name}: above the maximum {spec.maximum:g}"
    for spec in specs:
        if spec.kind == "string" and spec.categories is not None:
            return spec.name, "no such category", f"{spec.name}: not one of the categories"
    spec = next(spec for spec in specs if not spec.nullable)
    return spec.name, None, f"{spec.name}: missing"


def test_dataset_adds_the_labelled_rows_once_quarantines_contract_breakers_and_ingest_reads_them(repo, capsys):
    live = traffic(labelled=100)
    kept_rows = min(100, len(live)) - 2  # the regression data's test split has fewer than 100 rows
    column, value, reason = breaking_value(live)
    live[column] = live[column].astype(object)
    live.loc[0, column] = value
    params = load_params()
    target, regression = params.data.target, params.task == "regression"
    labels = load_contract().column(target).categories or ()
    unknown_label = 1e12 if regression else max(labels) + 1000 if isinstance(labels[0], int) else "not a label"
    live.loc[1, store.LABEL] = unknown_label  # beyond the target's range, or not a class
    write(live)
    assert main(["dataset"]) == 0
    out = capsys.readouterr().out
    assert f"dataset: {kept_rows} labelled production rows -> data/production/" in out
    assert "2 quarantined" in out
    [kept] = sorted(PRODUCTION_DATA.glob("*.parquet"))
    [held] = sorted(QUARANTINE_DIR.glob("*.parquet"))
    assert Path(f"{kept}.dvc").is_file()
    assert Path(f"{held}.dvc").is_file()
    quarantined = pd.read_parquet(held)
    assert quarantined.set_index(store.ID)["_reason"].to_dict() == {
        live.loc[0, store.ID]: reason,
        live.loc[1, store.ID]: f"{target}: above the maximum {load_contract().column(target).maximum:g}"
        if regression
        else f"{target}: not one of the categories",
    }
    assert len(pd.read_parquet(kept)) == kept_rows

    assert main(["dataset"]) == 0  # nothing new: every id is in a version or the quarantine
    assert "no new labelled production rows" in capsys.readouterr().out
    assert len(list(PRODUCTION_DATA.glob("*.parquet"))) == 1

    source_rows = len(io.read_table(RAW_DATA))
    assert main(["ingest"]) == 0
    raw = io.read_table(RAW_DATA)
    assert len(raw) == source_rows + kept_rows
    assert not [name for name in raw.columns if name.startswith("_")]


def test_a_batch_of_labels_far_outside_what_the_production_model_expects_is_refused_whole(repo, capsys):
    assert main(["evaluate"]) == 0  # the holdout error the batch is held to (reports/metrics.json)
    live = traffic()
    truth = live[store.LABEL]
    params = load_params()
    regression = params.task == "regression"
    if regression:  # a swapped column: every label far from the truth, outside the target's range in the contract
        live[store.LABEL] = truth.astype(float) + 10 * float(truth.astype(float).std())
    else:  # every label another class
        classes = sorted(set(truth))
        live[store.LABEL] = [classes[(classes.index(label) + 1) % len(classes)] for label in truth]
    write(live)
    capsys.readouterr()
    assert main(["dataset"]) == 0
    out = capsys.readouterr().out
    report = io.read_json(Path("reports/dataset.json"))
    labels = report["labels"]
    weak = labels["limit"] is not None and labels["limit"] >= 1
    if not regression and weak and not labels["known_rows"] and not labels["refused"]:
        # A weak model (holdout error >= 1 / monitor.label_error_ratio), no batch row that is a training row whose
        # label is known, and the batch no worse than predictions unrelated to its labels (a model near chance, whose
        # right answers were few to shift): nothing tells this batch from drift that took the model's skill away
        assert labels["error"] <= labels["no_skill_limit"]
        assert report["added"] == len(live)
        return
    assert not list(PRODUCTION_DATA.glob("*.parquet"))
    [held] = sorted(QUARANTINE_DIR.glob("*.parquet"))
    reasons = pd.read_parquet(held)["_reason"]
    assert (report["added"], report["quarantined"]) == (0, len(live))
    if regression:  # the contract refuses each row first; the label check then has no row to judge
        assert reasons.str.contains(params.data.target).all()
        assert (report["labels"]["rows"], report["labels"]["refused"]) == (0, False)
        return
    # refused by the production model's error on them (against its holdout's, or worse than no skill), or by the
    # labels already known for their rows
    assert "dataset: the batch's labels are refused (" in out
    assert "a labelling problem, not drift); nothing added" in out
    assert reasons.str.startswith("labels: ").all()
    assert labels["refused"] is True
    by_model = any(
        labels[limit] is not None and labels["error"] > labels[limit] for limit in ("limit", "no_skill_limit")
    )
    assert by_model or labels["known_disagreement"] > 0.5


def test_a_second_run_reads_from_the_last_runs_watermark_and_adds_only_what_is_new(repo, capsys):
    first = traffic(labelled=60)
    write(first)
    assert main(["dataset"]) == 0
    [version] = sorted(PRODUCTION_DATA.glob("*.parquet"))
    mark = io.table_metadata(version, "dataset_watermark")
    assert mark is not None
    later = traffic(labelled=40, version="my_model:v2")
    write(later, label_lag=timedelta(days=30))  # their labels arrive now, after the first run
    capsys.readouterr()
    assert main(["dataset"]) == 0
    assert "dataset: 40 labelled production rows -> data/production/" in capsys.readouterr().out
    assert main(["dataset"]) == 0
    assert "no new labelled production rows in logs since the last run" in capsys.readouterr().out
    assert sum(len(pd.read_parquet(path)) for path in PRODUCTION_DATA.glob("*.parquet")) == 100
