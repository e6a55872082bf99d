"""The store's traffic rules: one row per id, the latest; labels joined by id, the latest one."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.monitor.traffic import join_labels, latest_per_id


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
