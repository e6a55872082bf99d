"""The inference log: a bounded buffer the service appends to, emptied into the monitoring store by a thread that
retries a refused part with backoff, spills what the store did not take at shutdown and writes it at the next start."""

import hashlib
import hmac
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.serving import log_writer
from {{ cookiecutter.package_name }}.serving.log_writer import Answered, Backlog, LogWriter, _iso, hash_key, store_root, value_type
from {{ cookiecutter.package_name }}.serving.runner import Batch, ModelRunner

FEATURES = [
    ColumnSpec("tenure", "float", nullable=True),
    ColumnSpec("plan", "string", nullable=True, categories=("basic", "pro")),
    ColumnSpec("seats", "integer", nullable=False),
    ColumnSpec("email", "string", nullable=True),
    ColumnSpec("phone", "string", nullable=True),
]
ROWS = [(12.0, "basic", 3, "a@example.com", "555"), (None, "gold", 1, None, "556")]
PROBABILITIES = [{"no": 0.25, "yes": 0.75}, {"no": 0.5, "yes": 0.5}]
KEY = "0123456789abcdef-a-test-key"
PUT_PART = log_writer.put_part  # the store's own, whatever a test puts in its place


@pytest.fixture
def make_writer(tmp_path):
    """make_writer(**options) -> a LogWriter on tmp_path/store (no timed flush: tests flush or close it)."""
    writers: list[LogWriter] = []

    def make(root=None, **options) -> LogWriter:
        settings = {"max_rows": 100, "flush_seconds": 3600.0, "part_rows": 100} | options
        writer = LogWriter(str(root or tmp_path / "store"), FEATURES, "pkg:v1", ["no", "yes"], **settings)
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        writer.close(timeout=5)


def wait_for_parts(root: Path, seconds: float = 10) -> int:
    """How many prediction parts the writer's thread has written, once there is one (or time is up)."""
    deadline = time.monotonic() + seconds
    while not store.part_files(str(root), store.PREDICTIONS) and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(store.part_files(str(root), store.PREDICTIONS))


def batch(rows, predictions, probabilities=None, features=FEATURES) -> Batch:
    """A predicted batch as the runner makes it: the frame the model saw (and its float block when every feature
    is numeric), the answers as arrays."""
    matrix = None if probabilities is None else np.array([[p["no"], p["yes"]] for p in probabilities])
    runner = ModelRunner(object(), features)
    block = runner.block(rows)
    return Batch(runner.frame(rows, block), np.array(predictions, dtype=object), matrix, block)


def log_two(writer: LogWriter, traffic: str = store.LIVE) -> bool:
    requests = [Answered(["id-1", "id-2"], [None, "plan"], traffic)]
    return writer.predictions(batch(ROWS, ["yes", "no"], PROBABILITIES), requests)


def test_predictions_and_feedback_land_in_day_and_model_partitions(make_writer, tmp_path):
    writer = make_writer()
    assert log_two(writer, store.TEST)
    assert writer.feedback(["id-1", "id-9"], ["yes", "no"])
    assert writer.waiting == 4
    assert writer.flush()
    root = str(tmp_path / "store")
    [predictions] = store.part_files(root, store.PREDICTIONS)
    assert "/predictions/date=" in predictions
    assert "/model=v1/part-" in predictions
    logged = store.read_window(root, store.PREDICTIONS)
    assert logged[["tenure", "plan", "seats"]].astype(object).where(logged.notna(), None).values.tolist() == [
        [12.0, "basic", 3],
        [None, "gold", 1],
    ]
    assert logged[store.ID].tolist() == ["id-1", "id-2"]
    assert logged[store.PREDICTION].tolist() == ["yes", "no"]
    assert logged[store.PROBABILITIES].tolist() == PROBABILITIES
    assert logged[store.TRAFFIC].tolist() == ["test", "test"]
    assert logged[store.UNKNOWN].fillna("").tolist() == ["", "plan"]
    assert set(logged[store.MODEL_VERSION]) == {"pkg:v1"}
    feedback = store.read_window(root, store.FEEDBACK)
    assert feedback[[store.ID, store.LABEL]].values.tolist() == [["id-1", "yes"], ["id-9", "no"]]
    assert (writer.waiting, writer.dropped) == (0, 0)


def test_the_parts_keep_the_contract_types_even_when_a_column_is_all_null(make_writer, tmp_path):
    writer = make_writer()
    writer.predictions(
        batch([(None, None, 2, None, None)], ["no"], PROBABILITIES[:1]), [Answered(["x"], [None], "live")]
    )
    writer.flush()
    [part] = store.part_files(str(tmp_path / "store"), store.PREDICTIONS)
    schema = pq.read_schema(part)
    assert [schema.field(name).type for name in ("tenure", "plan", "seats")] == [pa.float64(), pa.string(), pa.int64()]
    assert schema.names[-7:] == list(store.LOG_FIELDS)
    assert schema.field(store.TS).type == store.UTC_TIME  # as store.write_part writes it


def test_a_batch_of_several_requests_keeps_each_requests_ids_flags_and_traffic_in_row_order(make_writer, tmp_path):
    writer = make_writer()
    rows = [*ROWS, (3.0, "pro", 2, None, None)]
    requests = [Answered(["a"], [None], store.LIVE), Answered(["b", "c"], ["plan", None], store.TEST)]
    writer.predictions(batch(rows, ["yes", "no", "no"], [*PROBABILITIES, PROBABILITIES[0]]), requests)
    writer.flush()
    logged = store.read_window(str(tmp_path / "store"), store.PREDICTIONS)
    assert logged[store.ID].tolist() == ["a", "b", "c"]
    assert logged[store.TRAFFIC].tolist() == ["live", "test", "test"]
    assert logged[store.UNKNOWN].fillna("").tolist() == ["", "plan", ""]
    assert logged["seats"].tolist() == [3, 1, 2]
    assert logged[store.PROBABILITIES].tolist()[2] == PROBABILITIES[0]


def test_a_full_buffer_drops_and_counts_the_new_rows_and_never_raises(make_writer):
    dropped: list[int] = []
    writer = make_writer(max_rows=3, on_dropped=dropped.append)
    assert log_two(writer)
    assert not log_two(writer)  # 4 rows would not fit: the batch's rows are dropped whole
    assert writer.feedback(["id-1"], ["yes"])
    assert not writer.feedback(["id-2"], ["no"])
    assert (writer.waiting, writer.dropped, dropped) == (3, 3, [2, 1])


def test_rows_the_store_refuses_wait_for_the_next_flush(make_writer, tmp_path):
    writer = make_writer()
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store's folder should be")
    log_two(writer)
    assert not writer.flush()
    assert (writer.waiting, writer.dropped) == (2, 0)
    blocker.unlink()
    assert writer.flush()
    assert len(store.read_window(str(blocker), store.PREDICTIONS)) == 2


def down(*_args, **_kwargs):
    raise OSError("the store is down")


def test_refused_rows_keep_their_place_newer_ones_that_do_not_fit_are_dropped_and_so_are_those_left_at_close(
    make_writer, monkeypatch
):
    writer = make_writer(max_rows=3)
    log_two(writer)

    def refuse(*_args, **_kwargs):
        writer.feedback(["late-1", "late-2"], ["no", "no"])  # they arrive while the store is being written
        raise OSError("the store is down")

    monkeypatch.setattr(log_writer, "put_part", refuse)
    assert not writer.flush()
    assert (writer.waiting, writer.dropped) == (2, 2)  # the refused rows wait; the late ones did not fit
    monkeypatch.setattr(log_writer, "put_part", down)
    writer.close(timeout=5)  # no spill folder: what the store did not take is lost, and counted
    assert (writer.waiting, writer.dropped) == (0, 4)


def test_the_thread_writes_a_part_once_part_rows_wait(make_writer, tmp_path):
    writer = make_writer(part_rows=4)
    log_two(writer)
    time.sleep(0.2)
    assert store.part_files(str(tmp_path / "store"), store.PREDICTIONS) == []
    log_two(writer)
    assert wait_for_parts(tmp_path / "store") == 1
    assert len(store.read_window(str(tmp_path / "store"), store.PREDICTIONS)) == 4


def test_handed_over_batches_wait_as_they_are_and_become_one_part_in_one_step(make_writer, tmp_path):
    writer = make_writer()
    log_two(writer)
    log_two(writer)
    time.sleep(1.2)  # no conversion in between: it cost the event loop CPU when it ran every second
    assert len(writer._chunks) == 2
    assert writer.waiting == 4
    assert store.part_files(str(tmp_path / "store"), store.PREDICTIONS) == []
    assert writer.flush()
    assert len(store.read_window(str(tmp_path / "store"), store.PREDICTIONS)) == 4
    assert len(store.part_files(str(tmp_path / "store"), store.PREDICTIONS)) == 1


def test_the_thread_writes_every_flush_seconds(make_writer, tmp_path):
    writer = make_writer(flush_seconds=0.1)
    log_two(writer)
    assert wait_for_parts(tmp_path / "store") == 1


def test_close_writes_what_waits_and_later_rows_are_dropped(make_writer, tmp_path):
    writer = make_writer()
    log_two(writer)
    writer.feedback(["id-1"], ["yes"])
    writer.close(timeout=5)
    assert len(store.read_window(str(tmp_path / "store"), store.PREDICTIONS)) == 2
    assert len(store.read_window(str(tmp_path / "store"), store.FEEDBACK)) == 1
    assert not log_two(writer)
    assert writer.dropped == 2


def mac(value: bytes, key: str = KEY) -> str:
    return hmac.new(key.encode(), value, hashlib.sha256).hexdigest()


def test_personal_columns_are_dropped_or_written_as_their_hmac_sha256_under_the_key(make_writer, tmp_path):
    writer = make_writer(drop=["email"], hashed=["phone"], key=KEY)
    log_two(writer)
    writer.flush()
    logged = store.read_window(str(tmp_path / "store"), store.PREDICTIONS)
    assert "email" not in logged.columns
    assert logged["phone"].tolist() == [mac(b"555"), mac(b"556")]
    assert mac(b"555") != hashlib.sha256(b"555").hexdigest()  # a dictionary of sha256s does not reverse it
    assert logged[store.ID].tolist() == ["id-1", "id-2"]  # serve.log_hash_id is off by default
    writer = make_writer(hashed=["seats", "email"], key="another key, another hash")
    writer.predictions(batch(ROWS, ["no", "no"], PROBABILITIES), [Answered(["a", "b"], [None, None], "live")])
    table = writer._table(store.PREDICTIONS, list(writer._chunks))
    other = "another key, another hash"
    assert table.column("seats").to_pylist() == [mac(b"3", other), mac(b"1", other)]
    assert table.column("email").to_pylist()[1] is None  # a null stays null
    with pytest.raises(ValueError, match="key"):
        LogWriter(str(tmp_path / "other"), FEATURES, "pkg:v1", hashed=["phone"])


def test_with_log_hash_id_the_ids_of_predictions_and_of_labels_are_hashed_alike_so_they_still_join(
    make_writer, tmp_path
):
    writer = make_writer(hash_id=True, key=KEY)
    log_two(writer)
    writer.feedback(["id-2", "id-9"], ["no", "yes"])
    writer.flush()
    predictions = store.read_window(str(tmp_path / "store"), store.PREDICTIONS)
    feedback = store.read_window(str(tmp_path / "store"), store.FEEDBACK)
    assert predictions[store.ID].tolist() == [mac(b"id-1"), mac(b"id-2")]
    assert feedback[store.ID].tolist() == [mac(b"id-2"), mac(b"id-9")]
    joined = predictions.merge(feedback, on=store.ID)
    assert joined[[store.PREDICTION, store.LABEL]].values.tolist() == [["no", "no"]]


def test_hashing_needs_a_key_of_16_characters_or_more_and_says_so_in_one_line():
    assert hash_key((), False, {}) is None  # nothing hashed: no key needed
    assert hash_key(("phone",), False, {"MONITOR_HASH_KEY": "k" * 16}) == "k" * 16
    for environ, problem in (({}, "is not set"), ({"MONITOR_HASH_KEY": "short"}, "has 5 characters")):
        with pytest.raises(ProjectError) as caught:
            hash_key(("email", "phone"), True, environ)
        message = str(caught.value)
        assert "serve.log_hash_columns (email, phone) and _id" in message
        assert f"$MONITOR_HASH_KEY, which {problem}" in message
        assert "\n" not in message
    assert "MONITOR_HASH_KEY" in str(pytest.raises(ProjectError, hash_key, (), True, {}).value)


def test_a_part_that_cannot_be_built_is_dropped_and_counted_not_retried(make_writer, caplog):
    writer = make_writer()
    frame = pd.DataFrame({"tenure": [1.0], "plan": ["basic"], "seats": ["three"], "email": [None], "phone": [None]})
    writer.predictions(Batch(frame, np.array(["no"], dtype=object), None), [Answered(["x"], [None], "live")])
    assert writer.flush()
    assert (writer.waiting, writer.dropped) == (0, 1)
    assert "cannot make a predictions part" in caplog.text


def test_regression_predictions_and_labels_are_numbers(tmp_path):
    writer = LogWriter(str(tmp_path), FEATURES[:1], "pkg:r1", None, flush_seconds=3600)
    writer.predictions(
        batch([(1.0,), (2.0,)], [10.5, 11.0], features=FEATURES[:1]), [Answered(["a", "b"], [None] * 2, "live")]
    )
    writer.feedback(["a"], [12])
    writer.close(timeout=5)
    logged = store.read_window(str(tmp_path), store.PREDICTIONS)
    assert store.PROBABILITIES not in logged.columns
    assert logged[store.PREDICTION].tolist() == [10.5, 11.0]
    assert store.read_window(str(tmp_path), store.FEEDBACK)[store.LABEL].tolist() == [12.0]


def test_a_numeric_schema_is_written_from_the_runners_float_blocks_with_nan_as_null(tmp_path):
    numeric = [
        ColumnSpec("tenure", "float", nullable=True),
        ColumnSpec("seats", "integer", nullable=True),
    ]
    writer = LogWriter(str(tmp_path), numeric, "pkg:v1", ["no", "yes"], flush_seconds=3600)
    with_block = batch([(1.5, 2), (None, 3)], ["no", "yes"], PROBABILITIES, features=numeric)
    frame_only = batch([(2.5, None)], ["yes"], PROBABILITIES[:1], features=numeric)._replace(block=None)
    assert with_block.block is not None
    assert np.shares_memory(with_block.block, with_block.frame.to_numpy())  # the model's frame: not a copy
    writer.predictions(with_block, [Answered(["a", "b"], [None, None], "live")])
    writer.predictions(frame_only, [Answered(["c"], [None], "live")])
    writer.close(timeout=5)
    (part,) = store.part_files(str(tmp_path), store.PREDICTIONS)
    table = pq.read_table(part)
    assert table.schema.field("seats").type == pa.int64()
    assert table.column("tenure").to_pylist() == [1.5, None, 2.5]
    assert table.column("seats").to_pylist() == [2, 3, None]
    assert table.column(store.ID).to_pylist() == ["a", "b", "c"]


def test_the_store_is_the_environments_else_the_packaged_one_inside_the_spool():
    assert store_root("logs", {}) == "logs"
    assert store_root("logs", {"MONITOR_SPOOL": "/spool"}) == str(Path("/spool/logs"))
    assert store_root("/data/logs", {"MONITOR_SPOOL": "/spool"}) == "/data/logs"
    assert store_root("s3://bucket/monitor", {"MONITOR_SPOOL": "/spool"}) == "s3://bucket/monitor"
    assert store_root("logs", {"MONITOR_STORE": "gs://b/m", "MONITOR_SPOOL": "/spool"}) == "gs://b/m"
    assert store_root("logs", {"MONITOR_STORE": "off"}) is None


def test_labels_take_the_type_of_the_classes():
    assert value_type(["no", "yes"]) == pa.string()
    assert value_type([0, 1, 2]) == pa.int64()
    assert value_type([False, True]) == pa.bool_()
    assert value_type(None) == pa.float64()


def test_times_are_iso_8601_utc_with_milliseconds_like_isoformat():
    from datetime import UTC, datetime

    whens = [1764601538.0, 1764601538.9999, 1764601539.25, 1764633600.5, 1764633600.0625]
    expected = [datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds") for when in whens]
    assert _iso(whens).to_pylist() == expected


class FlakyStore:
    """put_part in front of the real one: refuses the first `failures` writes, records each try's time and path."""

    def __init__(self, failures: int, lost_answers: int = 0) -> None:
        self.failures, self.lost_answers = failures, lost_answers
        self.tries: list[tuple[float, str]] = []

    def __call__(self, root, relative, table) -> None:
        self.tries.append((time.monotonic(), relative))
        if self.failures:
            self.failures -= 1
            raise OSError("the store is down")
        PUT_PART(root, relative, table)
        if self.lost_answers:  # written, but the answer never came back
            self.lost_answers -= 1
            raise TimeoutError("read timeout")


def test_a_refused_part_is_retried_with_a_growing_backoff_as_the_same_part_and_each_failure_is_counted(
    make_writer, tmp_path, monkeypatch
):
    flaky = FlakyStore(failures=3, lost_answers=1)
    monkeypatch.setattr(log_writer, "put_part", flaky)
    failed: list[int] = []
    writer = make_writer(flush_seconds=10, part_rows=1, retry_seconds=0.1, on_write_failed=failed.append)
    log_two(writer)  # part_rows 1: written at once
    deadline = time.monotonic() + 10
    while writer.waiting and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writer.waiting == 0
    assert failed == [1, 1, 1, 1]  # three refusals, and a write whose answer was lost
    assert len({relative for _, relative in flaky.tries}) == 1  # every try is the same part, by name
    waits = [later - earlier for (earlier, _), (later, _) in zip(flaky.tries, flaky.tries[1:], strict=False)]
    assert 0.045 < waits[0] < 2  # retry_seconds (jittered down to half of it), not flush_seconds
    assert waits[1] > 0.09  # doubled each time (up to flush_seconds)
    assert waits[2] > 0.19
    logged = store.read_window(str(tmp_path / "store"), store.PREDICTIONS)
    assert logged[store.ID].tolist() == ["id-1", "id-2"]  # the retry after a lost answer overwrote it: once


def test_new_rows_do_not_hurry_a_retry(make_writer, monkeypatch):
    flaky = FlakyStore(failures=1)
    monkeypatch.setattr(log_writer, "put_part", flaky)
    writer = make_writer(part_rows=2, retry_seconds=30)
    log_two(writer)
    deadline = time.monotonic() + 5
    while not flaky.tries and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(5):
        log_two(writer)  # part_rows rows waiting again and again
    time.sleep(0.3)
    assert len(flaky.tries) == 1
    assert 10 < writer.seconds_to_next_write() <= 30  # retry_seconds, jittered down to half at most


def test_the_backlog_counts_rows_bytes_and_the_age_of_the_oldest_and_the_thread_publishes_it(make_writer, monkeypatch):
    monkeypatch.setattr(log_writer, "put_part", down)
    published: list[Backlog] = []
    writer = make_writer(tick_seconds=0.05, on_backlog=published.append)
    assert writer.backlog() == Backlog(0, 0, 0.0)
    log_two(writer)
    time.sleep(0.2)
    rows, size, age = writer.backlog()
    assert (rows, 0.15 < age < 5) == (2, True)
    assert size >= 2 * 5 * 8  # the batch's arrays, roughly
    assert not writer.flush()  # now a Parquet part that waits for the store
    writer.feedback(["id-1"], ["yes"])
    rows, size, age = writer.backlog()
    assert (rows, age > 0.15) == (3, True)
    assert size > 100  # the part's Arrow bytes
    deadline = time.monotonic() + 5
    while published[-1].rows != 3 and time.monotonic() < deadline:  # the next tick
        time.sleep(0.02)
    assert published[-1].rows == 3
    assert published[0] == Backlog(0, 0, 0.0)


def test_at_close_the_store_is_tried_then_what_it_refused_is_spilled_and_the_next_start_writes_it_first(
    make_writer, tmp_path, monkeypatch
):
    spill = tmp_path / "spool/unsent"
    root = tmp_path / "store"
    writer = make_writer(spill=str(spill), part_rows=2)
    log_two(writer)
    assert wait_for_parts(root) == 1  # written while the store was up
    monkeypatch.setattr(log_writer, "put_part", FlakyStore(failures=100))
    writer.predictions(batch(ROWS, ["no", "yes"], PROBABILITIES), [Answered(["id-3", "id-4"], [None, None], "live")])
    writer.feedback(["id-1", "id-3"], ["yes", "no"])
    writer.close(timeout=4)
    assert (writer.waiting, writer.dropped) == (0, 0)
    spilled = sorted(path.relative_to(spill).as_posix().split("/")[0] for path in spill.rglob("part-*.parquet"))
    assert spilled == ["feedback", "predictions"]
    monkeypatch.setattr(log_writer, "put_part", FlakyStore(failures=1))  # the store is back after one more refusal
    published: list[Backlog] = []
    restarted = make_writer(spill=str(spill), retry_seconds=0.05, on_backlog=published.append)
    assert published[0].rows == 4  # the spilled rows are the backlog from the start
    deadline = time.monotonic() + 10
    while list(spill.rglob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(spill.rglob("part-*.parquet")) == []
    assert restarted.backlog().rows == 0
    predictions = store.read_window(str(root), store.PREDICTIONS)
    assert sorted(predictions[store.ID]) == ["id-1", "id-2", "id-3", "id-4"]  # every row once
    assert store.read_window(str(root), store.FEEDBACK)[store.ID].tolist() == ["id-1", "id-3"]


def test_a_store_that_does_not_answer_at_close_costs_at_most_half_the_timeout_and_its_rows_are_spilled(
    make_writer, tmp_path, monkeypatch
):
    release = threading.Event()

    def hangs(*_args, **_kwargs):
        release.wait(10)
        raise OSError("timed out")

    monkeypatch.setattr(log_writer, "put_part", hangs)
    writer = make_writer(spill=str(tmp_path / "unsent"))
    log_two(writer)
    started = time.monotonic()
    writer.close(timeout=2.0)  # the store is given 1 s of it
    release.set()
    assert time.monotonic() - started < 2.0
    assert len(list((tmp_path / "unsent").rglob("part-*.parquet"))) == 1
    assert (writer.waiting, writer.dropped) == (0, 0)


def test_a_spilled_part_another_worker_already_wrote_is_skipped(make_writer, tmp_path, monkeypatch):
    spill = tmp_path / "unsent"
    monkeypatch.setattr(log_writer, "put_part", down)
    writer = make_writer(spill=str(spill))
    log_two(writer)
    writer.close(timeout=2)
    monkeypatch.undo()
    [part] = spill.rglob("part-*.parquet")
    listed = LogWriter._find_spilled

    def listed_then_taken(self: LogWriter) -> list:
        """The spill as this start lists it, its part then written and deleted by the other worker (deleted here,
        before this writer's thread can write it: the thread writes spilled parts at once)."""
        parts = listed(self)
        part.unlink()
        return parts

    monkeypatch.setattr(LogWriter, "_find_spilled", listed_then_taken)
    restarted = make_writer(spill=str(spill), flush_seconds=3600)
    assert restarted.flush()
    assert restarted.backlog().rows == 0
    assert not store.part_files(str(tmp_path / "store"), store.PREDICTIONS)  # skipped, not written twice
