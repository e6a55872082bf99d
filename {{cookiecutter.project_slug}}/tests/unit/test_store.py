"""The monitoring store's layout: parts partitioned by day (and model version), read back by time window."""

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from {{ cookiecutter.package_name }} import store


def rows(*stamps: datetime) -> pa.Table:
    return pa.table({"x": [float(i) for i in range(len(stamps))], store.TS: [s.isoformat() for s in stamps]})


def test_parts_land_in_day_and_model_partitions_and_read_back_by_window(tmp_path):
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    old = now - timedelta(days=10)
    root = str(tmp_path)
    recent = store.write_part(root, store.PREDICTIONS, rows(now, now), now, "pkg:v2")
    store.write_part(root, store.PREDICTIONS, rows(old), old, "pkg:v1")
    assert "/predictions/date=2026-12-01/model=v2/part-" in recent
    assert len(store.part_files(root, store.PREDICTIONS)) == 2
    week = store.read_window(root, store.PREDICTIONS, since=now - timedelta(days=7), until=now)
    assert week["x"].tolist() == [0.0, 1.0]
    assert len(store.read_window(root, store.PREDICTIONS, until=now)) == 3
    assert store.read_window(root, store.FEEDBACK).empty
    assert not list(tmp_path.rglob(".*.tmp")), "no temporary file is left behind"


def test_the_logs_own_fields_can_never_be_feature_names():
    from {{ cookiecutter.package_name }}.pipeline.data import snake_case

    for field in store.LOG_FIELDS + (store.LABEL,):
        assert field.startswith("_")
        assert not snake_case(field).startswith("_")  # ingest renames such a column: no feature collides


def test_strings_other_than_ids_are_dictionary_encoded_numbers_are_written_plain(tmp_path):
    import pyarrow.parquet as pq

    table = pa.table({"x": [0.5, 0.5], "plan": ["basic", "basic"], store.ID: ["a", "b"], store.TS: ["t", "t"]})
    path = store.write_part(str(tmp_path), store.PREDICTIONS, table, datetime(2026, 12, 1, tzinfo=UTC), "pkg:v1")
    columns = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {columns.column(i).path_in_schema: columns.column(i).encodings for i in range(columns.num_columns)}
    assert "RLE_DICTIONARY" in encodings["plan"]
    assert "RLE_DICTIONARY" in encodings[store.TS]
    assert "RLE_DICTIONARY" not in encodings["x"]
    assert "RLE_DICTIONARY" not in encodings[store.ID]
    assert pq.read_table(path).equals(table)
