"""The monitoring store's layout: parts partitioned by day (and model version), read back by time window, by model
version (each part cast to the selected version's schema), past the files a merged file replaces."""

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }} import store

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def rows(*stamps: datetime) -> pa.Table:
    return pa.table({"x": [float(i) for i in range(len(stamps))], store.TS: [s.isoformat() for s in stamps]})


def test_parts_land_in_day_and_model_partitions_and_read_back_by_window(tmp_path):
    old = NOW - timedelta(days=10)
    root = str(tmp_path)
    recent = store.write_part(root, store.PREDICTIONS, rows(NOW, NOW), NOW, "pkg:v2")
    store.write_part(root, store.PREDICTIONS, rows(old), old, "pkg:v1")
    assert "/predictions/date=2026-12-01/model=v2/part-" in recent
    assert len(store.part_files(root, store.PREDICTIONS)) == 2
    week = store.read_window(root, store.PREDICTIONS, since=NOW - timedelta(days=7), until=NOW)
    assert week["x"].tolist() == [0.0, 1.0]
    assert len(store.read_window(root, store.PREDICTIONS, until=NOW)) == 3
    assert store.read_window(root, store.FEEDBACK).empty
    assert not list(tmp_path.rglob(".*.tmp")), "no temporary file is left behind"


def test_the_logs_own_fields_can_never_be_feature_names():
    from {{ cookiecutter.package_name }}.pipeline.data import snake_case

    for field in store.LOG_FIELDS + (store.LABEL,):
        assert field.startswith("_")
        assert not snake_case(field).startswith("_")  # ingest renames such a column: no feature collides


def test_strings_other_than_ids_and_the_time_are_dictionary_encoded_numbers_are_written_plain(tmp_path):
    table = pa.table({"x": [0.5, 0.5], "plan": ["basic", "basic"], store.ID: ["a", "b"], store.TS: [NOW] * 2})
    path = store.write_part(str(tmp_path), store.PREDICTIONS, table, NOW, "pkg:v1")
    columns = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {columns.column(i).path_in_schema: columns.column(i).encodings for i in range(columns.num_columns)}
    assert "RLE_DICTIONARY" in encodings["plan"]
    assert "RLE_DICTIONARY" in encodings[store.TS]  # a batch's rows share their time
    assert "RLE_DICTIONARY" not in encodings["x"]
    assert "RLE_DICTIONARY" not in encodings[store.ID]
    assert pq.read_table(path).equals(table.set_column(3, store.TS, pa.array([NOW] * 2, store.UTC_TIME)))


def test_the_time_is_written_as_a_utc_timestamp_and_parts_of_iso_text_still_read(tmp_path):
    root = str(tmp_path)
    new = store.write_part(root, store.PREDICTIONS, rows(NOW), NOW, "pkg:v1")
    assert pq.read_schema(new).field(store.TS).type == pa.timestamp("us", tz="UTC")
    old = tmp_path / "predictions/date=2026-12-01/model=v1/part-20261201T000000000000-00000000.parquet"
    pq.write_table(rows(NOW - timedelta(hours=1)), old)  # as the log wrote it before: ISO 8601 text
    logged = store.read_window_table(root, store.PREDICTIONS, NOW - timedelta(days=1), NOW)
    assert logged.schema.field(store.TS).type == store.UTC_TIME
    assert sorted(logged[store.TS].to_pylist()) == [NOW - timedelta(hours=1), NOW]


def two_versions(root: str, since: datetime) -> None:
    """Version v1 logs features x and gone and integer classes; v2 drops `gone`, adds `new` and logs its classes as
    text, with other class names in its probabilities. Each logs 2 parts of 3 rows: v1 on the window's first day,
    an hour before the window starts and an hour after; v2 on the next day (inside the window)."""
    for version, times in (("v1", (-1, 1)), ("v2", (24, 26))):
        for hours in times:
            when = since + timedelta(hours=hours)
            columns = {"x": [1.0, 2.0, 3.0]}
            if version == "v1":
                columns["gone"] = [7, 8, 9]
                prediction = pa.array([0, 1, 1])
                probabilities = pa.StructArray.from_arrays([pa.array([0.9, 0.2, 0.1])] * 2, names=["0", "1"])
            else:
                columns["new"] = ["a", "b", "c"]
                prediction = pa.array(["0", "1", "1"])
                probabilities = pa.StructArray.from_arrays([pa.array([0.9, 0.2, 0.1])] * 2, names=["no", "yes"])
            table = pa.table(
                {
                    **columns,
                    store.ID: [f"{version}-{hours}-{i}" for i in range(3)],
                    store.TS: [when.isoformat()] * 3,
                    store.MODEL_VERSION: [f"pkg:{version}"] * 3,
                    store.PREDICTION: prediction,
                    store.PROBABILITIES: probabilities,
                }
            )
            store.write_part(root, store.PREDICTIONS, table, when, f"pkg:{version}")


def test_a_selection_reads_its_versions_partitions_cast_to_the_latest_schema_and_counts_the_others(tmp_path):
    root, since = str(tmp_path), NOW - timedelta(days=3)
    two_versions(root, since)
    every = store.read_window_table(root, store.PREDICTIONS, since, NOW)  # every version: v2's schema
    assert every.column_names == ["x", "new", *store.LOG_FIELDS[:5]]
    assert every[store.PREDICTION].type == pa.string()
    assert sorted(every[store.PREDICTION].to_pylist()) == ["0"] * 3 + ["1"] * 6  # v1's 1 read as "1"
    assert every["new"].to_pylist().count(None) == 3  # v1's rows in the window
    v1 = store.read_selection(root, store.PREDICTIONS, since, NOW, versions="pkg:v1")
    assert v1.table.column_names == ["x", "gone", *store.LOG_FIELDS[:5]]
    assert v1.table[store.PREDICTION].type == pa.int64()
    assert v1.others == {"v2": 6}  # counted whole: v2's day is inside the window
    v2 = store.read_selection(root, store.PREDICTIONS, since, NOW, versions=["v2"])
    assert len(v2.table) == 6
    assert v2.others == {"v1": 3}  # the part before `since` on the window's first day does not count
    assert store.read_selection(root, store.PREDICTIONS, since, NOW, versions="v9").others == {"v1": 3, "v2": 6}
    assert store.read_window(root, store.PREDICTIONS, since, NOW, versions="v2")[store.PROBABILITIES].tolist()[0] == {
        "no": 0.9,
        "yes": 0.9,
    }


def test_a_column_that_a_part_cannot_cast_to_the_latest_type_is_read_as_text(tmp_path):
    root = str(tmp_path)
    earlier, later = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    texts = rows(earlier).append_column(store.PREDICTION, pa.array(["yes"]))
    numbers = rows(later).append_column(store.PREDICTION, pa.array([1]))
    store.write_part(root, store.PREDICTIONS, texts, earlier, "pkg:v1")
    store.write_part(root, store.PREDICTIONS, numbers, later, "pkg:v2")
    logged = store.read_window_table(root, store.PREDICTIONS, NOW - timedelta(days=1), NOW)
    assert logged[store.PREDICTION].to_pylist() == ["yes", "1"]
    struct = pa.struct([("no", pa.float64()), ("yes", pa.float64())])
    other = pa.chunked_array([pa.StructArray.from_arrays([pa.array([0.5])], names=["yes"])])
    assert store.conform([pa.table({"p": other})], pa.schema([("p", struct)]))["p"].to_pylist() == [
        {"no": None, "yes": 0.5}
    ]


def test_readers_leave_out_the_files_a_merged_file_replaces(tmp_path):
    """A crash between writing a merged file and deleting what it replaces shows no row twice."""
    root = str(tmp_path)
    first = store.write_part(root, store.PREDICTIONS, rows(NOW, NOW), NOW, "pkg:v1")
    second = store.write_part(root, store.PREDICTIONS, rows(NOW), NOW, "pkg:v1")
    names = [path.rpartition("/")[2] for path in (first, second)]
    folder = first.rpartition("/")[0]
    merged = store.read_files(*store.filesystem(root)[:1], store.list_parts(root, store.PREDICTIONS).parts)
    path = store.write_file(store.filesystem(root)[0], f"{folder}/{store.merged_name(names)}", merged, names)
    assert path.endswith(store.MERGED)
    assert path > max(first, second)
    listing = store.list_parts(root, store.PREDICTIONS)
    assert [part.path for part in listing.parts] == [path]
    assert sorted(part.path for part in listing.superseded) == sorted([first, second])
    assert len(store.read_window(root, store.PREDICTIONS)) == 3
    assert json.loads(pq.read_metadata(path).metadata[store.REPLACES]) == names
    later = store.write_part(root, store.PREDICTIONS, rows(NOW), NOW, "pkg:v1")  # recorded by no merged file
    assert store.part_files(root, store.PREDICTIONS) == sorted([path, later])
    assert len(store.read_window(root, store.PREDICTIONS)) == 4


def test_an_object_store_is_read_the_same_by_whole_object_fetches(tmp_path):
    """fsspec's memory file system stands in for an object store: not local, so parts and footers are fetched."""
    root = f"memory://{tmp_path.name}"
    since = NOW - timedelta(days=3)
    two_versions(root, since)
    selection = store.read_selection(root, store.PREDICTIONS, since, NOW, versions="v2")
    assert (len(selection.table), selection.others) == (6, {"v1": 3})
    local = str(tmp_path)
    two_versions(local, since)
    assert store.read_window_table(root, store.PREDICTIONS, since, NOW).equals(
        store.read_window_table(local, store.PREDICTIONS, since, NOW)
    )
    fs, _ = store.filesystem(root)
    listing = store.list_parts(root, store.PREDICTIONS)
    part = listing.parts[0]
    names = [f"part-{i:060d}.parquet" for i in range(2000)]  # a footer larger than the tail first fetched
    big = store.write_file(fs, f"{part.folder}/{store.merged_name([part.name])}", rows(NOW), names)
    [footer] = store.footers(fs, [big])
    assert len(json.loads(footer.metadata[store.REPLACES])) == 2000


@pytest.mark.parametrize("where", ["local", "object store"])
def test_a_part_replaced_while_it_is_read_makes_the_reader_list_again(tmp_path, monkeypatch, where):
    root = str(tmp_path) if where == "local" else f"memory://{tmp_path.name}"  # memory: fetched whole, as from S3
    first = store.write_part(root, store.PREDICTIONS, rows(NOW), NOW, "pkg:v1")
    listed = store.list_parts
    calls = []

    def stale(*args, **kwargs):  # the first listing sees a part that a compaction deletes right after
        listing = listed(*args, **kwargs)
        if not calls:
            store.write_part(root, store.PREDICTIONS, rows(NOW), NOW, "pkg:v1")
            store.filesystem(root)[0].rm(first)
        calls.append(len(listing.parts))
        return listing

    monkeypatch.setattr(store, "list_parts", stale)
    assert len(store.read_window(root, store.PREDICTIONS)) == 1
    assert calls == [1, 1]


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown store kind"):
        store.list_parts("logs", "labels")


def test_hash_value_is_hmac_sha256_of_the_value_with_the_key():
    assert store.hash_value("C00042", "secret") == hmac.new(b"secret", b"C00042", hashlib.sha256).hexdigest()


def test_parts_fetched_in_several_batches_read_the_same_in_one_chunk_a_batch(tmp_path, monkeypatch):
    root, since = f"memory://{tmp_path.name}", NOW - timedelta(days=3)
    two_versions(root, since)
    whole = store.read_window_table(root, store.PREDICTIONS, since, NOW)
    monkeypatch.setattr(store, "FETCH_BYTES", 1)  # a batch a part
    batched = store.read_parts(root, store.PREDICTIONS, since, NOW)
    assert batched.column(0).num_chunks == 4  # each batch's rows one chunk
    assert store.read_window_table(root, store.PREDICTIONS, since, NOW).equals(whole)
    fs, _ = store.filesystem(root)
    union = store.read_files(fs, store.list_parts(root, store.PREDICTIONS).parts, union=True)
    assert union.column_names == ["x", "new", *store.LOG_FIELDS[:5], "gone"]  # no column lost
    assert union["gone"].to_pylist() == [7, 8, 9] * 2 + [None] * 6


def test_another_versions_part_across_the_windows_start_is_counted_row_by_row(tmp_path):
    root, since = str(tmp_path), NOW - timedelta(days=3)
    across = rows(since - timedelta(hours=1), since + timedelta(hours=1), since + timedelta(hours=2))
    store.write_part(root, store.PREDICTIONS, across, since - timedelta(hours=1), "pkg:v1")
    store.write_part(root, store.PREDICTIONS, rows(NOW), NOW, "pkg:v2")
    assert store.read_selection(root, store.PREDICTIONS, since, NOW, versions="v2").others == {"v1": 2}


def test_obstore_gets_botocores_renewed_credentials_and_asks_again_before_they_expire(monkeypatch):
    """Credentials that expire (a role, web identity, SSO) are renewed by botocore; obstore is told to ask again."""
    import types

    import botocore.credentials
    import botocore.session

    def issued(key: str, minutes: int) -> dict[str, str]:
        expiry = datetime.now(UTC) + timedelta(minutes=minutes)
        return {"access_key": key, "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    expiring = botocore.credentials.RefreshableCredentials.create_from_metadata(
        issued("OLD", 5), lambda: issued("NEW", 60), "test"
    )
    monkeypatch.setattr(botocore.session.Session, "get_credentials", lambda self: expiring)
    provider = store.BotocoreCredentials(types.SimpleNamespace(key=None, secret=None, token=None, kwargs={}))
    given = provider()
    assert (given["access_key_id"], given["token"]) == ("NEW", "t")  # within 5 minutes of expiry: renewed
    assert given["expires_at"] is not None
    assert given["expires_at"] <= datetime.now(UTC) + store.CREDENTIALS_TTL
    given_keys = {"key": "K", "secret": "S", "token": None, "kwargs": {}}  # s3fs's own key and secret
    static = store.BotocoreCredentials(types.SimpleNamespace(**given_keys))()
    assert (static["access_key_id"], static["expires_at"]) == ("K", None)
