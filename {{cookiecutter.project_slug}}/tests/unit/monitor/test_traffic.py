"""The store's traffic rules: one row per id, the latest; labels joined by id, the latest one."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.monitor.label_delay import completeness, scores
from {{ cookiecutter.package_name }}.monitor.traffic import LiveRows, has_label, join_labels, latest_per_id


def test_a_record_logged_twice_counts_once_as_its_latest_row_and_joins_its_latest_label():
    rows = pd.DataFrame(
        {
            store.ID: ["a", "b", "a"],
            store.TS: pd.to_datetime(["2026-11-24T10:00Z", "2026-11-24T11:00Z", "2026-11-24T12:00Z"], utc=True),
            "x": [1.0, 2.0, 3.0],
        }
    )
    latest = latest_per_id(rows)
    assert latest.set_index(store.ID)["x"].to_dict() == {"a": 3.0, "b": 2.0}
    labels = latest_per_id(
        pd.DataFrame(
            {
                store.ID: ["a", "a", "c"],
                store.LABEL: ["no", "yes", "no"],
                store.TS: pd.to_datetime(["2026-11-25T00:00Z", "2026-11-26T00:00Z", "2026-11-25T00:00Z"], utc=True),
            }
        )
    )
    joined = join_labels(latest, labels)
    assert joined[[store.ID, "x", store.LABEL]].to_dict("records") == [{store.ID: "a", "x": 3.0, store.LABEL: "yes"}]


def test_a_new_version_that_drops_a_feature_and_logs_its_classes_as_text_breaks_no_reader(tmp_path):
    """The readers behind `monitor`, `drift` and `dataset` after a release: v2 dropped the feature `gone` and logs
    its classes as text where v1 logged integers. Every version reads as v2's schema; one version reads alone, the
    other's rows counted; the drift check and the labels' join take either."""
    import pyarrow as pa

    from {{ cookiecutter.package_name }}.monitor.drift import detect
    from {{ cookiecutter.package_name }}.monitor.traffic import feedback, live_predictions
    from {{ cookiecutter.package_name }}.params import DriftParams

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    root = str(tmp_path)
    for version, gone, classes, day in (("v1", True, [0, 1] * 30, 3), ("v2", False, ["0", "1"] * 30, 1)):
        when = now - timedelta(days=day)
        columns = {"x": [float(i) for i in range(60)], **({"gone": list(range(60))} if gone else {})}
        table = pa.table(
            {
                **columns,
                store.ID: [f"{version}-{i}" for i in range(60)],
                store.TS: [when.isoformat()] * 60,
                store.MODEL_VERSION: [f"pkg:{version}"] * 60,
                store.PREDICTION: classes,
                store.TRAFFIC: [store.LIVE] * 60,
            }
        )
        store.write_part(root, store.PREDICTIONS, table, when, f"pkg:{version}")
        labels = pa.table({store.ID: [f"{version}-{i}" for i in range(60)], store.LABEL: classes, store.TS: [now] * 60})
        store.write_part(root, store.FEEDBACK, labels, when, None)
    since = now - timedelta(days=7)
    reference = pd.DataFrame({"x": [float(i) for i in range(60)], "churn": ["0", "1"] * 30})
    settings = DriftParams(min_rows=10)
    every = live_predictions(root, since, now)  # what the readers read by default: every version
    assert (len(every.rows), every.others) == (120, {})
    assert list(every.rows.columns) == ["x", *store.LOG_FIELDS[:4], store.TRAFFIC]
    assert set(every.rows[store.PREDICTION]) == {"0", "1"}
    assert detect(reference, every.rows, settings, target="churn").verdict == "no drift"
    production = live_predictions(root, since, now, versions="pkg:v2")
    assert (len(production.rows), production.others, production.other_versions) == (60, {"v1": 60}, 60)
    canary = live_predictions(root, since, now, versions="v1")
    assert "gone" in canary.rows.columns
    assert canary.others == {"v2": 60}
    assert len(join_labels(production.rows, feedback(root, since, now))) == 60  # labels of either version read
    assert len(join_labels(canary.rows, feedback(root, since, now))) == 60


def test_the_arrow_readers_of_a_million_rows_agree_with_pandas_on_a_few():
    # monitor reads a window's rows as Arrow (LiveRows) and a test's as pandas: labels, scores and days must agree
    times = pd.to_datetime(["2026-03-01T23:59:59Z", "2026-03-02T00:00:00Z", None, "2026-03-02T12:00:00Z"], utc=True)
    frame = pd.DataFrame(
        {
            store.ID: ["a", "b", "c", "7"],
            store.TS: times,
            store.PROBABILITIES: [{"no": 0.9, "yes": 0.1}, {"no": 0.2, "yes": 0.8}, None, {"no": 0.5, "yes": 0.5}],
        }
    )
    keep = np.array([True, True, True, True])
    rows = LiveRows(pa.Table.from_pandas(frame, preserve_index=False), keep)
    labels = pd.DataFrame({store.ID: ["b", "7", "zz"], store.LABEL: ["yes", "no", "no"]})
    assert has_label(rows, labels).tolist() == has_label(frame, labels).tolist() == [False, True, False, True]
    arrow, _ = scores(rows, "classification")
    pandas, _ = scores(frame, "classification")
    np.testing.assert_array_equal(arrow, [0.9, 0.8, np.nan, 0.5])
    np.testing.assert_array_equal(pandas, arrow)
    days = completeness(rows.column(store.TS), has_label(rows, labels))
    assert [(d.day, d.predictions, d.labelled) for d in days] == [("2026-03-01", 1, 0), ("2026-03-02", 2, 2)]
    assert completeness(frame[store.TS], has_label(frame, labels)) == days  # the row without a time is left out
    no_probabilities = pa.table({store.ID: ["a"], store.PROBABILITIES: pa.nulls(1)})  # a classifier without them
    assert np.isnan(scores(LiveRows(no_probabilities, np.array([True])), "classification")[0]).all()
