"""A batch run's files (batch/run.py): markers written whole or not at all, so a killed run resumes cleanly."""

import json
from datetime import UTC, datetime, timedelta

import fsspec

from {{ cookiecutter.package_name }}.batch.run import Counts, Paths, finished, mark_done, prepare, run_started

FIRST = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_marker_half_written_by_a_kill_is_not_a_finished_fragment(tmp_path):
    paths = Paths.of(str(tmp_path / "out.parquet"))
    later = FIRST + timedelta(hours=1)
    assert prepare(paths, "run-1", "local", FIRST) == set()
    mark_done(paths, "0000", Counts(10, 9, 1, {"wrong_type": 1}))
    (tmp_path / "out.partial/done/0001.json.tmp").write_text('{"rows_in": 1')  # killed while writing it
    assert prepare(paths, "run-1", "local", later) == {"0000"}  # the same run resumes: only the whole marker counts
    assert run_started(paths, later) == FIRST  # its logged rows keep the first try's time, and their parts' names
    assert finished(paths, "0000") == Counts(10, 9, 1, {"wrong_type": 1})
    assert prepare(paths, "run-2", "local", later) == set()  # another run's folder starts over
    assert run_started(paths, FIRST) == later
    assert json.loads((tmp_path / "out.partial/run.json").read_text())["run_id"] == "run-2"
    assert isinstance(paths.fs, fsspec.AbstractFileSystem)
