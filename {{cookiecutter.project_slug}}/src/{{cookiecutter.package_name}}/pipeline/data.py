"""Ingest the data source as a table with snake_case columns, and split it into train and test.

Ingest appends the labelled production rows that `dataset` materialised (data/production/*.parquet, one
DVC-tracked file per version, in name order: oldest first), without their `_`-prefixed lineage columns.
The split keeps the target, the id and the contract's features: columns that schema.yaml marks
`feature: false` (near-unique text such as ids or free text) never reach training.
"""

from __future__ import annotations

import argparse
import re
import zlib
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import io
from ..columns import feature_columns
from ..contract import load_contract
from ..errors import ProjectError
from ..params import PRODUCTION_DATA, RAW_DATA, SCHEMA_FILE, TEST_DATA, TRAIN_DATA, Params, load_params

# Datasets bundled with scikit-learn (no download), with the name their target column gets.
SKLEARN_DATASETS = {
    "breast_cancer": ("load_breast_cancer", "diagnosis"),
    "diabetes": ("load_diabetes", "progression"),
    "iris": ("load_iris", "species"),
    "wine": ("load_wine", "cultivar"),
}


def snake_case(name: object) -> str:
    """`Mean Radius (cm)` -> `mean_radius_cm`; `petalWidth` -> `petal_width`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    text = re.sub(r"\W+", "_", text).strip("_").lower()
    if not text:
        return "column"
    return f"c_{text}" if text[0].isdigit() else text


def normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename columns to snake_case; two columns that collide are an error."""
    names = [snake_case(column) for column in frame.columns]
    seen: dict[str, object] = {}
    for original, name in zip(frame.columns, names, strict=True):
        if name in seen:
            raise ProjectError(f"columns {seen[name]!r} and {original!r} both become {name!r}; rename one")
        seen[name] = original
    return frame.set_axis(names, axis="columns")


def load_sklearn_dataset(name: str) -> pd.DataFrame:
    """A dataset bundled with scikit-learn; classification targets get their label names."""
    if name not in SKLEARN_DATASETS:
        raise ProjectError(f"unknown bundled dataset sklearn:{name}; choose one of {', '.join(SKLEARN_DATASETS)}")
    import sklearn.datasets

    loader, target = SKLEARN_DATASETS[name]
    bunch = getattr(sklearn.datasets, loader)(as_frame=True)
    frame: pd.DataFrame = bunch.frame.drop(columns="target")
    labels = bunch.target
    if hasattr(bunch, "target_names"):
        labels = pd.Series(bunch.target_names[labels.to_numpy()], index=labels.index, dtype="str")
    frame[target] = labels
    return frame


def load_source(source: str) -> pd.DataFrame:
    """Load `sklearn:<name>`, or a CSV/Parquet path or URL."""
    if source.startswith("sklearn:"):
        return load_sklearn_dataset(source.removeprefix("sklearn:"))
    return io.read_table(source)


def ingest(source: str, target: str) -> pd.DataFrame:
    """The source as a table with snake_case columns; it must contain the target."""
    frame = normalise_columns(load_source(source))
    if frame.empty:
        raise ProjectError(f"{source}: the table has no rows")
    if target not in frame.columns:
        raise ProjectError(
            f"target {target!r} is not a column of {source} (columns: {', '.join(map(str, frame.columns))})"
        )
    return frame.reset_index(drop=True)


def production_versions(folder: Path = PRODUCTION_DATA) -> list[Path]:
    """The versions of labelled production rows, oldest first (their names are UTC times)."""
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def with_production_rows(frame: pd.DataFrame, versions: list[Path]) -> pd.DataFrame:
    """The source's rows, then each version's (its `_` lineage columns left out); a column the source does not
    have is an error that names it."""
    parts = []
    for path in versions:
        part = io.read_table(path)
        part = part[[name for name in part.columns if not str(name).startswith("_")]]
        unknown = sorted(set(part.columns) - set(frame.columns))
        if unknown:
            raise ProjectError(f"{path}: columns the source does not have: {', '.join(unknown)}")
        parts.append(part)
    return pd.concat([frame, *parts], ignore_index=True) if parts else frame


def hash_fraction(ids: pd.Series) -> pd.Series:
    """A stable number in [0, 1) per id (CRC32 of its text): same id, same number, on any machine."""
    return ids.astype(str).map(lambda text: zlib.crc32(text.encode("utf-8")) / 2**32)


def split(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic train/test split: by id hash when there is an id column, else seeded."""
    id_column, target = params.data.id_column, params.data.target
    test_size = params.split.test_size
    if id_column is not None:
        if id_column not in frame.columns:
            raise ProjectError(f"id_column {id_column!r} is not a column of the data")
        if frame[id_column].isna().any():
            raise ProjectError(f"id_column {id_column!r} has missing values; ids must be set on every row")
        in_test = hash_fraction(frame[id_column]) < test_size
        train, test = frame[~in_test], frame[in_test]
    else:
        stratify = frame[target] if params.task == "classification" and params.split.stratify else None
        try:
            train, test = train_test_split(frame, test_size=test_size, random_state=params.seed, stratify=stratify)
        except ValueError as exc:
            raise ProjectError(f"cannot split the data: {exc}") from None
    if train.empty or test.empty:
        raise ProjectError(f"the split left an empty side ({len(train)} train, {len(test)} test rows)")
    return train.sort_index().reset_index(drop=True), test.sort_index().reset_index(drop=True)


def ingest_command(args: argparse.Namespace) -> int:
    """`ingest`: read data.source, write data/raw/."""
    params = load_params()
    source = ingest(params.data.source, params.data.target)
    versions = production_versions()
    frame = with_production_rows(source, versions)
    added = f" + {len(frame) - len(source)} from {len(versions)} version(s) in {PRODUCTION_DATA}/" if versions else ""
    io.write_table(frame, RAW_DATA)
    print(f"ingest: {len(source)} rows from {params.data.source}{added}, {frame.shape[1]} columns -> {RAW_DATA}")
    return 0


def split_command(args: argparse.Namespace) -> int:
    """`split`: write data/processed/train and test."""
    params = load_params()
    frame = io.read_table(RAW_DATA)
    contract = load_contract(SCHEMA_FILE)
    excluded = [spec.name for spec in contract.columns if not spec.feature]
    features = feature_columns(frame.columns, params.data.target, params.data.id_column, excluded)
    kept = [name for name in frame.columns if name in features or name in (params.data.target, params.data.id_column)]
    train, test = split(frame[kept], params)
    io.write_table(train, TRAIN_DATA)
    io.write_table(test, TEST_DATA)
    how = f"by hash of {params.data.id_column}" if params.data.id_column else f"seed {params.seed}"
    left_out = f"; not features (schema.yaml): {', '.join(excluded)}" if excluded else ""
    print(f"split ({how}): {len(train)} train, {len(test)} test rows -> {TRAIN_DATA.parent}/{left_out}")
    return 0
