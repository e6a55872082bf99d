"""The store's traffic rules: one row per id, the latest; labels joined by id, the latest one."""

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
