"""Batch scoring's input (batch/sources.py): files found by path, folder or glob; Parquet cut into fragments of row
groups; CSV and JSON lines read in batches with every row's index in its file, a malformed line included."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from {{ cookiecutter.package_name }}.batch.sources import fragments, read_fragment, resolve
from {{ cookiecutter.package_name }}.errors import ProjectError


def read_all(path: Path, columns: list[str], batch_rows: int = 2):
    fs, sources = resolve(str(path))
    batches = [
        raw
        for fragment in fragments(fs, sources, fragment_rows=10)
        for raw in read_fragment(fs, sources[fragment.source], fragment, columns, batch_rows)
    ]
    return fs, sources, batches


def test_a_folder_a_glob_and_a_file_name_their_files_in_order(tmp_path):
    for name in ("b.csv", "a.parquet", "sub/c.jsonl", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    _, found = resolve(str(tmp_path))
    assert [source.name for source in found] == ["a", "b", "sub/c"]
    assert [source.format for source in found] == ["parquet", "csv", "jsonl"]
    _, globbed = resolve(str(tmp_path / "*.csv"))
    assert [source.name for source in globbed] == ["b"]
    with pytest.raises(ProjectError, match="no such file"):
        resolve(str(tmp_path / "missing.csv"))
    with pytest.raises(ProjectError, match="no input file matches"):
        resolve(str(tmp_path / "*.pq"))
    with pytest.raises(ProjectError, match="unsupported input format '.txt'"):
        resolve(str(tmp_path / "notes.txt"))


def test_parquet_row_groups_are_grouped_into_fragments_that_know_where_their_rows_start(tmp_path):
    table = pa.table({"x": np.arange(25.0)})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=4)
    fs, sources = resolve(str(tmp_path / "t.parquet"))
    found = fragments(fs, sources, fragment_rows=10)
    assert [(part.row_groups, part.first_row, part.rows) for part in found] == [
        ((0, 1), 0, 8),
        ((2, 3), 8, 8),
        ((4, 5, 6), 16, 9),
    ]
    rows = [raw.rows for part in found for raw in read_fragment(fs, sources[0], part, ["x"], 3)]
    assert np.concatenate(rows).tolist() == list(range(25))
    values = np.concatenate([raw.frame["x"] for part in found for raw in read_fragment(fs, sources[0], part, ["x"], 3)])
    assert values.tolist() == list(np.arange(25.0))


def test_a_csv_is_read_as_text_and_a_line_with_the_wrong_number_of_fields_is_malformed_at_its_index(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b,c\n1,x,2.5\n2,y\n3,"z\nq",4\n4,w,5,6\nfoo,,7\n6,v,8\n')
    _, _, batches = read_all(path, ["a", "b", "c"])
    rows = np.concatenate([raw.rows for raw in batches]).tolist()
    assert rows == [0, 2, 4, 5]
    frame = pd.concat([raw.frame for raw in batches if len(raw.frame)], ignore_index=True)
    assert frame["a"].tolist() == ["1", "3", "foo", "6"]  # text: a bad value rejects its row, not the file
    assert frame["b"].isna().tolist() == [False, False, True, False]  # an empty field is missing, as pandas reads it
    malformed = [line for raw in batches for line in raw.malformed]
    assert malformed == [(1, "2,y"), (3, "4,w,5,6")]


def test_json_lines_keep_their_line_numbers_and_a_line_that_is_no_object_is_malformed(tmp_path):
    path = tmp_path / "t.jsonl"
    lines = [json.dumps({"a": 1, "b": "x"}), "{broken", "", json.dumps({"a": "two"}), "[1, 2]", json.dumps({"b": None})]
    path.write_text("\n".join(lines) + "\n")
    _, _, batches = read_all(path, ["a", "b"], batch_rows=10)
    (raw,) = batches
    assert raw.rows.tolist() == [0, 3, 5]
    assert raw.frame["a"].tolist() == [1, "two", None]  # a key left out is a null, as in a request
    assert raw.malformed == [(1, "{broken"), (4, "[1, 2]")]


def test_an_empty_csv_has_no_rows(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    _, _, batches = read_all(tmp_path / "empty.csv", ["a"])
    assert batches == []
