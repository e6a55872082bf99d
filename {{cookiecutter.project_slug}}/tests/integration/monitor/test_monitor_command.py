"""`monitor` on a trained repository (git + DVC under tmp_path) with a store written here.

The store holds the test split's rows as live traffic (store.write_part, as the service writes it), with
labels sent as feedback; each test shapes it to one situation: as on the holdout, wrong labels, too few
labels, shifted features, nothing at all. Without a production model the workspace's model stands in; one
test promotes it and then changes the workspace, so that only the production model can explain the verdict.
`traffic` and `write` also make the store of test_dataset_command.py.
"""

import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import yaml

from {{ cookiecutter.package_name }} import io, store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.columns import split_by_treatment
from {{ cookiecutter.package_name }}.contract import load_contract
from {{ cookiecutter.package_name }}.monitor.multivariate import SIDE_ROWS
from {{ cookiecutter.package_name }}.params import (
    DRIFT_REPORT,
    MODEL_FILE,
    MONITOR_FILE,
    MONITOR_PLOTS_DIR,
    MONITOR_REPORT,
    TEST_DATA,
    TRAIN_DATA,
    load_params,
)
from {{ cookiecutter.package_name }}.records import served_version
from {{ cookiecutter.package_name }}.registry import file_digest

STORE = "logs"  # monitor.store's default


def shifted(rows: pd.DataFrame, shift: float) -> pd.DataFrame:
    """Every feature moved away from the training data: numbers by `shift` standard deviations (whole numbers stay
    whole), categories all set to their rarest value. With shift 0, the same rows, their float values (of more
    than 20 distinct ones) jittered by 0.1 % so that they are new records, not copies of the test split."""
    numeric, categorical = split_by_treatment(rows)
    moved = rows.copy()
    noise = np.random.default_rng(0).standard_normal(len(rows))
    for name in numeric:
        step = shift * float(rows[name].std())
        # a float of a few values (diabetes' scaled sex) is not jittered: values it never holds are drift, rightly
        jitter = 0.001 if rows[name].nunique() > 20 else 0.0
        if pd.api.types.is_float_dtype(rows[name]):
            moved[name] = (rows[name] + step) * (1 + jitter * noise)
        else:
            moved[name] = rows[name] + round(step)
    if shift:
        for name in categorical:
            counts = rows[name].value_counts()
            moved[name] = counts.index[-1] if len(counts) else rows[name]
    return moved


def record_ids(version: str, count: int) -> list[str]:
    """Ids the clients send, one set per model version: numbers when data.id_column holds integers, else text."""
    id_column = load_params().data.id_column
    contract = load_contract()
    if id_column in contract.names and contract.column(id_column).kind == "integer":
        base = zlib.crc32(version.encode()) * 100_000
        return [str(base + i) for i in range(count)]
    return [f"{version}-{i}" for i in range(count)]


def served() -> str:
    """The version the service answers for the workspace's model: what `monitor` judges until one is promoted."""
    return served_version(MODEL_FILE.read_bytes(), load_contract(), load_params(estimator=False))


def smoke_tests(rows: int = 7) -> pd.DataFrame:
    """`rows` records of test traffic (X-Traffic: test) to the same service, under ids of their own."""
    return traffic().head(rows).assign(**{store.TRAFFIC: store.TEST, store.ID: record_ids("smoke", rows)})


def traffic(
    labels: str = "true", labelled: int | None = None, shift: float = 0.0, version: str | None = None
) -> pd.DataFrame:
    """The test split as live traffic of the last six days, predicted by the workspace's model, with labels:
    "true" ones, or "wrong" ones for 60% of the rows; only the first `labelled` rows get one. Any data the
    contract accepts: numbers, strings, booleans, nulls, string or integer classes, or a regression target.
    `version`: the model version the rows say served them (default: the workspace model's, `served()`)."""
    version = version or served()
    params = load_params()
    test = io.read_table(TEST_DATA)
    model = io.load_model(MODEL_FILE)
    rows = shifted(test[list(model.feature_names_in_)], shift)
    now = datetime.now(UTC)
    times = [now - timedelta(days=6) * (1 - i / len(rows)) for i in range(len(rows))]
    truth = test[params.data.target].to_numpy(dtype=object)
    if labels == "wrong":
        flip = np.random.default_rng(1).random(len(truth)) < 0.6
        if params.task == "regression":
            wrong = truth + 3 * float(np.std(truth.astype(float)))
        else:
            classes = sorted(set(truth))
            wrong = np.array([classes[(classes.index(t) + 1) % len(classes)] for t in truth], dtype=object)
        truth = np.where(flip, wrong, truth)
    logged = {}
    if params.task == "classification":  # what the service logs: each row's class probabilities
        classes = [str(name) for name in model.classes_]
        logged[store.PROBABILITIES] = [dict(zip(classes, row, strict=True)) for row in model.predict_proba(rows)]
    return rows.assign(
        **logged,
        **{
            store.ID: record_ids(version, len(rows)),
            store.TS: [t.isoformat() for t in times],
            store.MODEL_VERSION: version,
            store.PREDICTION: model.predict(rows),
            store.TRAFFIC: store.LIVE,
            store.UNKNOWN: "",
            store.LABEL: [t if labelled is None or i < labelled else None for i, t in enumerate(truth)],
        },
    )


def write(frame: pd.DataFrame, root: str = STORE, label_lag: timedelta = timedelta(hours=1)) -> None:
    """Predictions (one part per day and version) and the labels that were sent, `label_lag` after each prediction
    (or now, for the predictions of the last `label_lag`)."""
    logged = frame.drop(columns=store.LABEL)
    for (_day, version), part in logged.groupby([logged[store.TS].str[:10], store.MODEL_VERSION]):
        when = datetime.fromisoformat(part[store.TS].iloc[0])
        store.write_part(root, store.PREDICTIONS, pa.Table.from_pandas(part, preserve_index=False), when, version)
    sent = frame[frame[store.LABEL].notna()]
    if len(sent):
        now = datetime.now(UTC)  # never in the future: the rows of the last hour get theirs now
        arrived = [min(datetime.fromisoformat(t) + label_lag, now).isoformat() for t in sent[store.TS]]
        feedback = pd.DataFrame({store.ID: sent[store.ID], store.LABEL: sent[store.LABEL], store.TS: arrived})
        store.write_part(root, store.FEEDBACK, pa.Table.from_pandas(feedback, preserve_index=False), datetime.now(UTC))


def report() -> dict:
    return json.loads(MONITOR_FILE.read_text())


def test_traffic_like_the_holdout_is_ok_with_every_record_counted_once_and_test_traffic_left_out(repo, capsys):
    live = traffic()
    write(live)
    write(live.head(10).assign(**{store.TS: datetime.now(UTC).isoformat()}))  # 10 records logged again
    write(smoke_tests())
    assert main(["monitor"]) == 0
    out = capsys.readouterr().out
    assert f"monitor: {len(live)} live records since" in out
    assert "drift: no drift; performance: ok" in out
    result = report()
    assert result["findings"] == []
    assert result["exit_code"] == 0
    assert result["performance"]["verdict"] == "ok"
    assert result["performance"]["labels"] == len(live)
    whole, *recent = result["performance"]["windows"]  # the whole window, then monitor.recent_windows
    assert (whole["length"], whole["labels"], whole["verdict"]) == ("7d", len(live), "ok")
    assert [window["length"] for window in recent] == list(load_params().monitor.recent_windows)
    assert all(window["until"] == whole["until"] and window["verdict"] != "degraded" for window in recent)
    assert result["traffic"] | {"versions": None} == {
        "logged": len(live) + 17,
        "test": 7,
        "live": len(live) + 10,
        "distinct": len(live),
        "feedback": len(live) + 7,  # a label sent twice counts once; the test traffic's are received, never joined
        "versions": None,
        "batch": 0,
        "batch_included": True,
    }
    [(version, entry)] = result["traffic"]["versions"].items()
    assert version == served() == result["versions"]["judged"]
    assert result["versions"]["other_rows"] == {}
    assert entry["labels"] == len(live)
    assert entry["agreement"] == 1.0
    assert result["model"]["version"] is None
    assert "the workspace's models/model.joblib" in result["model"]["source"]
    assert result["model"]["path"] == str(MODEL_FILE)
    assert result["model"]["sha256"] == file_digest(MODEL_FILE, "sha256")
    assert result["drift"]["verdict"] == "no drift"
    assert result["drift"]["prediction_drift"] is False
    assert result["multivariate"]["drifted"] is False
    assert result["multivariate"]["rows_used"] == {
        "reference": min(len(io.read_table(TRAIN_DATA)), SIDE_ROWS),
        "current": min(len(live), SIDE_ROWS),
    }
    scores = result["score_drift"][version]  # the logged scores are the model's own: the same model, no drift
    assert (scores["drifted"], scores["same_as_production"], scores["counted"]) == (False, True, False)
    markdown = MONITOR_REPORT.read_text()
    assert "**No finding**" in markdown
    assert "Multivariate drift: no drift" in markdown
    assert "## Live performance" in markdown
    assert "**OK**" in markdown
    assert "| 7d (whole) |" in markdown
    for name in ("performance.png", "labels.png"):
        assert (MONITOR_PLOTS_DIR / name).read_bytes()[:4] == b"\x89PNG"
    assert DRIFT_REPORT.is_file()


def test_wrong_labels_are_degraded_performance_and_exit_1(repo, capsys):
    write(traffic(labels="wrong"))
    assert main(["monitor"]) == 1
    result = report()
    assert result["findings"] == ["degraded"]
    performance = result["performance"]
    assert performance["verdict"] == "degraded"
    metric = load_params().gate_metric
    [check] = [check for check in performance["checks"] if check["metric"] == metric]
    worse_end = check["high"] if check["higher_is_better"] else check["low"]
    assert check["degraded"]
    assert (worse_end < check["limit"]) == check["higher_is_better"]
    assert "**Findings: degraded performance**" in MONITOR_REPORT.read_text()


def test_too_few_labels_is_no_verdict_with_the_count_and_exit_0(repo, capsys):
    write(traffic(labels="wrong", labelled=20))
    assert main(["monitor"]) == 0
    assert "performance: not enough labels (20 labels, fewer than monitor.min_labels 50)" in capsys.readouterr().out
    performance = report()["performance"]
    assert performance["verdict"] == "not enough labels"
    assert performance["labels"] == 20
    assert performance["checks"] == []
    assert "fewer than `monitor.min_labels` 50: no verdict" in MONITOR_REPORT.read_text()


def test_shifted_features_are_drift_and_exit_1(repo):
    write(traffic(shift=1.0))
    assert main(["monitor"]) == 1
    result = report()
    assert "drift" in result["findings"]
    assert result["drift"]["verdict"] == "drift found"
    assert result["drift"]["drifted_features"]
    assert result["multivariate"]["drifted"] is True
    assert result["multivariate"]["top_features"]
    [scores] = result["score_drift"].values()  # whether its scores moved: tests/unit/monitor/test_score_drift.py
    assert scores["same_as_production"] is True
    assert scores["counted"] is scores["drifted"]
    assert "**Drift found**" in DRIFT_REPORT.read_text()


def test_an_empty_store_is_not_enough_data_nor_labels_and_exit_0(repo, capsys):
    assert main(["monitor", "--store", "nothing-here", "--since", "2d"]) == 0
    out = capsys.readouterr().out
    assert "drift: not enough data; performance: not enough labels (0 labels" in out
    assert "monitor: hint: no live record in nothing-here yet? A running service writes its log every " in out
    result = report()
    assert result["drift"]["verdict"] == "not enough data"
    assert result["drift"]["rows"]["current"] == 0
    assert result["window"]["length"] == "2d"
    assert (MONITOR_PLOTS_DIR / "labels.png").is_file()


def test_a_store_of_test_traffic_only_says_that_monitoring_leaves_it_out(repo, capsys):
    write(smoke_tests())
    assert main(["monitor"]) == 0
    assert "monitor: hint: the 7 rows in logs are all test traffic (X-Traffic: test" in capsys.readouterr().out


def test_the_production_model_is_judged_not_the_workspaces(repo, capsys):
    write(traffic())
    assert main(["monitor"]) == 0
    workspace_holdout = report()["performance"]["holdout"]
    assert main(["promote"]) == 0
    promoted = file_digest(MODEL_FILE, "sha256")
    params = yaml.safe_load(Path("params.yaml").read_text())
    params["train"] = {"estimator": "dummy", "params": {}}  # a useless workspace model, never promoted
    Path("params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["train"]) == 0
    assert main(["monitor"]) == 0
    result = report()
    assert result["model"]["version"] == "v0.0.1"
    assert "md5 matches dvc.lock" in result["model"]["source"]
    assert result["model"]["sha256"] == promoted != file_digest(MODEL_FILE, "sha256")
    assert "path" not in result["model"]  # a temporary copy, gone once monitor has loaded it
    assert result["performance"]["verdict"] == "ok"
    assert result["performance"]["holdout"] == workspace_holdout  # the promoted model's, not the dummy's
    assert "the production model `v0.0.1`" in MONITOR_REPORT.read_text()


def test_only_the_production_versions_rows_are_judged_unless_a_version_or_all_versions_are_asked_for(repo, capsys):
    write(traffic())
    canary = traffic(shift=1.0, version="my_model:canary")  # a canary that sees other data: not production's drift
    write(canary)
    assert main(["monitor"]) == 0
    result = report()
    assert result["versions"] == {"judged": served(), "other_rows": {"canary": len(canary)}}
    assert list(result["traffic"]["versions"]) == [served()]
    assert result["drift"]["verdict"] == "no drift"
    assert f"{len(canary)} rows of other versions were counted, not judged" in capsys.readouterr().out
    assert f"Judged: the rows of `{served()}`" in MONITOR_REPORT.read_text()

    assert main(["monitor", "--version", "my_model:canary"]) == 1
    result = report()
    assert result["versions"]["judged"] == "my_model:canary"
    assert result["versions"]["other_rows"] == {served().rpartition(":")[2]: len(canary)}
    assert result["drift"]["drift"] is True

    assert main(["monitor", "--all-versions"]) in (0, 1)
    result = report()
    assert result["versions"] == {"judged": None, "other_rows": {}}
    assert result["traffic"]["distinct"] == 2 * len(canary)
    assert sorted(result["traffic"]["versions"]) == sorted([served(), "my_model:canary"])

    assert main(["monitor", "--all-versions", "--version", "my_model:canary"]) == 2
    assert "--version and --all-versions: choose one" in capsys.readouterr().err
