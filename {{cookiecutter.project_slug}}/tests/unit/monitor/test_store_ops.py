"""compact, retention and erase: the store rewritten without losing or repeating a row, even when a run is cut
short or the service writes meanwhile."""

import os
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.monitor import store_ops

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def part(root: str, first: int, count: int = 100, when: datetime = NOW, version: str = "pkg:v1") -> str:
    """A part of `count` predictions with ids r<first>... (and 500 random bytes each, so that parts have a size)."""
    table = pa.table(
        {
            "x": [float(i) for i in range(count)],
            "noise": [os.urandom(500).hex() for _ in range(count)],
            store.ID: [f"r{i}" for i in range(first, first + count)],
            store.TS: [when.isoformat()] * count,
            store.MODEL_VERSION: [version] * count,
        }
    )
    return store.write_part(root, store.PREDICTIONS, table, when, version)


def labels(root: str, ids: list[str], when: datetime = NOW) -> str:
    table = pa.table({store.ID: ids, store.LABEL: ["yes"] * len(ids), store.TS: [when.isoformat()] * len(ids)})
    return store.write_part(root, store.FEEDBACK, table, when)


def ids(root: str, kind: str = store.PREDICTIONS) -> list[str]:
    frame = store.read_window(root, kind)
    return sorted(frame[store.ID]) if len(frame) else []


def test_compact_merges_a_folders_small_parts_into_files_of_about_the_target_and_loses_no_row(tmp_path):
    root = str(tmp_path)
    for first in range(0, 900, 100):  # 9 parts of one day and version: merged 4 by 4, the last one left
        part(root, first)
    part(root, 5000, version="pkg:v2")  # alone in its folder: left as it is
    for first in range(6000, 6300, 100):
        part(root, first, when=NOW - timedelta(days=1))
    labels(root, ["r1", "r2"])
    labels(root, ["r3"])
    before = ids(root)
    size = min(p.size for p in store.list_parts(root, store.PREDICTIONS).parts)
    done = store_ops.compact(root, 4 * size)  # files of 4 parts' worth; a part under 2 parts' worth is small
    assert (done.merged, done.written, done.rows, done.leftovers) == (13, 4, 1103, 0)
    assert ids(root) == before
    assert ids(root, store.FEEDBACK) == ["r1", "r2", "r3"]
    parts = store.list_parts(root, store.PREDICTIONS).parts
    assert (sum(p.merged for p in parts), len(parts)) == (3, 5)
    assert store_ops.compact(root, 4 * size) == store_ops.Compaction()  # done: nothing small has company
    assert ids(root) == before


def test_a_merge_keeps_every_column_of_its_parts_in_the_latest_ones_types(tmp_path):
    root = str(tmp_path)
    older = pa.table({store.ID: ["a"], store.LABEL: [1], "extra": [5.0], store.TS: [NOW.isoformat()]})
    newer = pa.table({store.ID: ["b"], store.LABEL: ["yes"], store.TS: [NOW.isoformat()]})
    store.write_part(root, store.FEEDBACK, older, NOW)
    store.write_part(root, store.FEEDBACK, newer, NOW + timedelta(seconds=1))
    assert store_ops.compact(root, 2**30).merged == 2
    merged = store.read_window_table(root, store.FEEDBACK)
    assert merged.column_names == [store.ID, store.LABEL, store.TS, "extra"]
    assert merged[store.LABEL].to_pylist() == ["1", "yes"]
    assert merged["extra"].to_pylist() == [5.0, None]


def test_a_compaction_cut_short_between_writing_and_deleting_shows_no_row_twice_and_is_finished_next_time(
    tmp_path, monkeypatch
):
    root = str(tmp_path)
    for first in range(0, 300, 100):
        part(root, first)
    fs, _ = store.filesystem(root)
    monkeypatch.setattr(type(fs), "rm", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError, match="killed"):
        store_ops.compact(root, 2**30)
    monkeypatch.undo()
    listing = store.list_parts(root, store.PREDICTIONS)
    assert (len(listing.parts), len(listing.superseded)) == (1, 3)
    assert ids(root) == sorted(f"r{i}" for i in range(300))
    assert store_ops.compact(root, 2**30) == store_ops.Compaction(leftovers=3)
    assert len(list(tmp_path.rglob("*.parquet"))) == 1


def test_a_part_written_during_a_compaction_is_left_for_the_next_run(tmp_path, monkeypatch):
    root = str(tmp_path)
    part(root, 0)
    part(root, 100)
    read = store.read_files

    def service_writes_meanwhile(*args, **kwargs):
        table = read(*args, **kwargs)
        part(root, 900)
        return table

    monkeypatch.setattr(store, "read_files", service_writes_meanwhile)
    assert store_ops.compact(root, 2**30).merged == 2
    monkeypatch.undo()
    assert ids(root) == sorted([*(f"r{i}" for i in range(200)), *(f"r{i}" for i in range(900, 1000))])
    assert store_ops.compact(root, 2**30).merged == 2  # the merged file and the new part


def test_retention_deletes_whole_days_past_the_limit_and_keeps_the_rest(tmp_path):
    root = str(tmp_path)
    for days in (0, 3, 30, 31):
        part(root, days * 100, when=NOW - timedelta(days=days))
        labels(root, [f"r{days * 100}"], when=NOW - timedelta(days=days))
    done = store_ops.expire(root, 30, NOW)
    assert (done.days, done.files, done.kept) == (2, 2, 6)
    assert len(ids(root)) == 300  # days 0, 3 and 30
    assert ids(root, store.FEEDBACK) == ["r0", "r300", "r3000"]
    assert store_ops.expire(str(tmp_path / "nothing"), 30, NOW) == store_ops.Expired()
    assert store_ops.folder_day("x/date=someday") is None
    assert store_ops.folder_day("x/other=1") is None


def test_erase_removes_an_ids_rows_from_predictions_and_feedback_rewriting_only_the_files_that_hold_them(tmp_path):
    root = str(tmp_path)
    kept = part(root, 0)
    holds = part(root, 100)
    only = part(root, 300, count=1)  # nothing left once erased: deleted
    labels(root, ["r150", "r7"])
    hashed = store.hash_value("r120", "key")
    labels(root, [hashed])  # as the service stores it with serve.log_hash_id
    done = store_ops.erase(root, ["r150", "r300", "r120"], "key")
    assert done.rows == {store.PREDICTIONS: 3, store.FEEDBACK: 2}
    assert (done.rewritten, done.deleted) == (2, 2)  # a part and a feedback file rewritten; the rest emptied
    assert ids(root, store.FEEDBACK) == ["r7"]
    remaining = ids(root)
    assert not {"r120", "r150", "r300"} & set(remaining)
    assert len(remaining) == 198
    paths = store.part_files(root, store.PREDICTIONS)
    assert kept in paths
    assert holds not in paths
    assert only not in paths
    assert store_ops.erase(root, ["r150"], None).rows == {store.PREDICTIONS: 0, store.FEEDBACK: 0}


def test_erase_on_an_object_store_fetches_and_rewrites_the_same(tmp_path):
    root = f"memory://{tmp_path.name}"
    part(root, 0)
    part(root, 100)
    assert store_ops.erase(root, ["r5"], None).rows[store.PREDICTIONS] == 1
    assert len(ids(root)) == 199


@pytest.fixture
def project(workdir, write_params):
    write_params(workdir, monitor={"store": "logs", "retention_days": 7, "compact_mb": 1})
    return workdir


def test_the_commands_print_one_line_and_exit_0_or_2(project, capsys, monkeypatch):
    part("logs", 0)
    part("logs", 100)
    part("logs", 200, when=datetime.now(UTC) - timedelta(days=30))
    assert main(["compact"]) == 0
    assert "compact: 2 files merged into 1 (200 rows) in logs, files of about monitor.compact_mb 1 MB" in (
        capsys.readouterr().out
    )
    assert main(["retention"]) == 0
    assert "retention: 1 day folders (1 files) older than 7 days deleted from logs" in capsys.readouterr().out
    assert main(["erase", "--id", "r1", "--id", "r2"]) == 0
    assert "erase: 2 rows of 2 ids removed from logs (2 predictions, 0 feedback)" in capsys.readouterr().out
    assert main(["erase", "--id", ""]) == 2
    assert "erase: error: --id: give at least one non-empty id" in capsys.readouterr().err
    monkeypatch.setattr(store_ops, "load_params", lambda **_: _with_hashed_ids())
    monkeypatch.delenv(store_ops.HASH_KEY_VARIABLE, raising=False)
    assert main(["erase", "--id", "r3"]) == 2
    assert "set $MONITOR_HASH_KEY" in capsys.readouterr().err


def _with_hashed_ids():
    from types import SimpleNamespace

    from {{ cookiecutter.package_name }}.params import load_params

    params = load_params(estimator=False)
    return SimpleNamespace(monitor=params.monitor, serve=SimpleNamespace(log_hash_id=True))


def test_retention_null_keeps_everything_and_a_store_error_is_one_line(workdir, write_params, capsys, monkeypatch):
    write_params(workdir, monitor={"store": "logs"})
    assert main(["retention"]) == 0
    assert "retention: monitor.retention_days is null: everything in logs is kept" in capsys.readouterr().out
    assert main(["compact", "--store", str(workdir / "empty")]) == 0
    assert "compact: 0 files merged into 0 (0 rows)" in capsys.readouterr().out

    def denied(*args, **kwargs):
        raise PermissionError("Access Denied")

    monkeypatch.setattr(store_ops, "compact", denied)
    assert main(["compact", "--store", "s3://bucket/store"]) == 2
    assert capsys.readouterr().err == (
        "compact: error: the monitoring store s3://bucket/store: PermissionError: Access Denied\n"
    )
