"""Ingest the data source as a table with snake_case columns, and split it into train and test.

The split keeps the target, the id and the contract's features: columns that schema.yaml marks
`feature: false` (near-unique text such as ids or free text) never reach training.
"""

from __future__ import annotations

import argparse
import re
import zlib

import pandas as pd
from sklearn.model_selection import train_test_split

from .. import io
from ..columns import feature_columns
from ..errors import ProjectError
from ..params import RAW_DATA, SCHEMA_FILE, TEST_DATA, TRAIN_DATA, Params, load_params
from .contract import load_contract

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
    frame = bunch.frame.drop(columns="target")
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
    frame = ingest(params.data.source, params.data.target)
    io.write_table(frame, RAW_DATA)
    print(f"ingest: {len(frame)} rows x {frame.shape[1]} columns from {params.data.source} -> {RAW_DATA}")
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
