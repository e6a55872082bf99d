"""The `dataset` command: the labelled production rows become a new DVC-tracked version of the training data.

The live predictions in the store (one per id: traffic.py) joined by id with their labels become rows of
the data: the contract's columns (schema.yaml), the label as the target, and `data.id_column` from the
record's id when it is set. Rows whose id an earlier version already holds are skipped (so a second run over
the same window adds nothing). The others are checked against the contract row by row
(contract.py: row_problems, the row-level rules that validate.py's suite checks for a table):

    data/production/<UTC time>.parquet   the rows that keep the contract (ingest reads every file here)
    data/quarantine/<UTC time>.parquet   the rows that break it, with a `_reason` column: never silently dropped

A batch whose labels are far outside what the production model expects is refused whole (labels.py): quarantined
with the reason, never added. reports/dataset.json says what was added, quarantined and why.
Both are tracked with `dvc add` (the data goes to the DVC remote, a .dvc pointer to git). Each row also keeps
its lineage in `_`-prefixed columns (id, prediction time, model version, label time), which ingest leaves out.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .. import io, store
from ..columns import KINDS
from ..contract import ColumnSpec, Contract, load_contract, row_problems
from ..errors import ProjectError, RegistryError
from ..params import (
    DATASET_FILE,
    METRICS_FILE,
    PRODUCTION_DATA,
    QUARANTINE_DIR,
    RAW_DATA,
    SCHEMA_FILE,
    Params,
    load_params,
    parse_window,
    window_start,
)
from ..registry import dvc, git, production
from .drift import private_columns
from .labels import LabelCheck, check_labels, known_label_disagreement, model_error, no_skill_error
from .traffic import LABEL_TS, feedback, join_labels, live_predictions

REASON = "_reason"
LINEAGE = (store.ID, store.TS, store.MODEL_VERSION, LABEL_TS)


def id_values(ids: pd.Series, spec: ColumnSpec) -> pd.Series:
    """The record ids as the id column's kind: numbers stay numbers; text that is not one stays text (and so
    breaks an integer contract: the service made that id up, it is not the client's)."""
    if not spec.numeric:
        return ids.astype(object)
    numbers = pd.to_numeric(ids, errors="coerce")
    return numbers.astype(object).where(numbers.notna(), ids.astype(object))


def unchecked(contract: Contract, private: Mapping[str, str]) -> Contract:
    """The contract with the private columns (dropped or hashed in the log) allowed to be missing: production rows
    carry no value of them."""
    specs = tuple(
        replace(spec, nullable=True, max_null_fraction=None) if spec.name in private else spec
        for spec in contract.columns
    )
    return replace(contract, columns=specs)


def production_table(
    joined: pd.DataFrame, contract: Contract, params: Params, private: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The contract's columns from the labelled rows (the label as the target), then the lineage columns. A column
    the log drops or hashes (`private`) is written as missing: a hash is no training value."""
    columns: dict[str, Any] = {}
    for spec in contract.columns:
        if spec.name in (private or {}):
            columns[spec.name] = pd.Series(None, index=joined.index, dtype=object)
        elif spec.name == contract.target:
            columns[spec.name] = joined[store.LABEL]
        elif spec.name == params.data.id_column and spec.name not in joined.columns:
            columns[spec.name] = id_values(joined[store.ID], spec)
        elif spec.name in joined.columns:
            columns[spec.name] = joined[spec.name]
        else:  # a column the service does not take (feature: false): no value for it
            columns[spec.name] = pd.Series(None, index=joined.index, dtype=object)
    for name in LINEAGE:
        if name in joined.columns:
            columns[name] = joined[name].astype(str)
    return pd.DataFrame(columns, index=joined.index).reset_index(drop=True)


def as_contract_types(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Rows that keep the contract, with the dtypes ingest gives the source (integers as int64 or Int64)."""
    cast = {}
    for spec in contract.columns:
        column = frame[spec.name]
        if column.isna().all() and spec.kind != "float":
            continue  # nothing to type (a column the service does not take)
        kind = KINDS[spec.kind]
        cast[spec.name] = kind.nullable_dtype if column.isna().any() else kind.dtype
    return frame.astype(cast)


def quarantine_table(frame: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    """Rows that break the contract with their reasons; a column mixing value types is kept as text."""
    table = frame.copy()
    for name in table.columns:
        if table[name].dtype == object:
            table[name] = table[name].map(lambda value: None if value is None else str(value))
    table[REASON] = reasons
    return table


WATERMARK = "dataset_watermark"  # the Parquet metadata key of a version: every label arrived by then was read
# Read again before the watermark: parts written late with older times (a pod's spill, uploaded at its next start).
# Rows read twice are skipped by id.
LATE_PARTS = timedelta(days=1)


def watermark(folders: tuple[Path, ...] = (PRODUCTION_DATA, QUARANTINE_DIR)) -> datetime | None:
    """When the last `dataset` run read the store: the newest watermark of the versions (and quarantines) so far."""
    marks = [
        io.table_metadata(path, WATERMARK) for folder in folders if folder.is_dir() for path in folder.glob("*.parquet")
    ]
    times = [datetime.fromisoformat(mark) for mark in marks if mark]
    return max(times) if times else None


def seen_before(ids: pd.Series, folders: tuple[Path, ...] = (PRODUCTION_DATA, QUARANTINE_DIR)) -> np.ndarray:
    """Which of these ids an earlier version (or quarantine) already holds: one file's ids in memory at a time."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    wanted = pa.array(ids.astype(str))
    seen = np.zeros(len(ids), dtype=bool)
    for path in sorted(path for folder in folders if folder.is_dir() for path in folder.glob("*.parquet")):
        if store.ID in pq.read_schema(path).names:
            held = pq.read_table(path, columns=[store.ID]).column(0).cast(pa.string())
            seen |= pc.is_in(wanted, value_set=held).to_numpy(zero_copy_only=False)
    return seen


def track(paths: list[Path]) -> None:
    """`dvc add` the new files (their .dvc pointers and .gitignore entries go to git); on failure remove them."""
    try:
        dvc("add", "--quiet", *(path.as_posix() for path in paths))
    except RegistryError as exc:
        for path in paths:
            path.unlink(missing_ok=True)
        raise ProjectError(f"could not track the new data with DVC, nothing was added: {exc}") from None


def holdout_error(task: str) -> float | None:
    """The production model's error on its holdout (1 - accuracy, or its mean absolute error), from the metrics its
    commit recorded (the workspace's while there is no production model); None when unknown."""
    try:
        prod = production()
        text = git("show", f"{prod.commit}:{METRICS_FILE.as_posix()}") if prod else METRICS_FILE.read_text()
        metrics = json.loads(text)
    except (RegistryError, OSError, ValueError):
        return None
    value = metrics.get("accuracy" if task == "classification" else "mae")
    if not isinstance(value, int | float):
        return None
    return 1 - float(value) if task == "classification" else float(value)


def labels_check(kept: pd.DataFrame, predictions: pd.Series, contract: Contract, params: Params) -> LabelCheck:
    """The kept rows' labels against the production model's logged predictions and the labels already known."""
    target = contract.target
    known = io.read_table(RAW_DATA) if RAW_DATA.is_file() else pd.DataFrame()
    features = [spec.name for spec in contract.feature_specs(params.data.id_column)]
    return check_labels(
        model_error(kept[target], predictions, params.task),
        len(kept),
        holdout_error(params.task),
        known_label_disagreement(kept, known, features, target) if len(known) else pd.Series(dtype=bool),
        params.task,
        params.monitor.label_error_ratio,
        params.monitor.min_labels,
        no_skill_error(kept[target], predictions, params.task, params.seed),
    )


def dataset_command(args: argparse.Namespace) -> int:
    """`dataset`: labelled live rows -> data/production/<time>.parquet (+ quarantine), tracked with `dvc add`."""
    params = load_params(estimator=False)
    contract = load_contract(SCHEMA_FILE)
    if not Path(".dvc").is_dir():
        raise ProjectError("not a DVC repository (no .dvc/): run `dataset` from the project root")
    now = datetime.now(UTC)
    root = args.store or params.monitor.store
    mark = None if args.since else watermark()
    since: datetime | None
    predicted_since: datetime | None
    if args.since:
        since, predicted_since = window_start(args.since, now), window_start(args.since, now)
    elif mark is not None:  # labels arrived since the last run, for predictions at most a delay and a window older
        since = mark - LATE_PARTS
        predicted_since = since - params.monitor.label_delay_length - parse_window(params.monitor.window)
    else:  # the first run reads the whole store
        since = predicted_since = None
    joined = join_labels(live_predictions(root, predicted_since, now).rows, feedback(root, since, now))
    new = joined[~seen_before(joined[store.ID])] if len(joined) else joined
    skipped = len(joined) - len(new)
    if new.empty:
        since_text = f" since the last run ({mark:%Y-%m-%d %H:%M} UTC)" if mark else ""
        print(f"dataset: no new labelled production rows in {root}{since_text} ({skipped} seen before)")
        return 0
    private = private_columns(params.serve)
    table = production_table(new, contract, params, private)
    reasons = row_problems(table, unchecked(contract, private))
    broken = (reasons != "").to_numpy()
    check = labels_check(table[~broken], new[store.PREDICTION].reset_index(drop=True)[~broken], contract, params)
    if check.refused:  # the whole batch: labels that are wrong are wrong together
        reasons = reasons.where(broken, f"labels: {check.reason}")
        broken = np.ones(len(table), dtype=bool)
    stamp = f"{now:%Y%m%dT%H%M%S%fZ}"  # to the microsecond: two runs in one second must not overwrite a version
    written = []
    if (~broken).any():
        kept = as_contract_types(table[~broken].reset_index(drop=True), contract)
        io.write_table(kept, PRODUCTION_DATA / f"{stamp}.parquet", {WATERMARK: now.isoformat()})
        written.append(PRODUCTION_DATA / f"{stamp}.parquet")
    if broken.any():
        quarantined = quarantine_table(table[broken].reset_index(drop=True), reasons[broken].reset_index(drop=True))
        io.write_table(quarantined, QUARANTINE_DIR / f"{stamp}.parquet", {WATERMARK: now.isoformat()})
        written.append(QUARANTINE_DIR / f"{stamp}.parquet")
    track(written)
    io.write_json(
        {
            "added": int((~broken).sum()),
            "quarantined": int(broken.sum()),
            "seen_before": skipped,
            "files": [path.as_posix() for path in written],
            "labels": check.to_json(),
            "non_features": private,
        },
        DATASET_FILE,
    )
    if private:
        print(
            f"dataset: {', '.join(private)}: dropped or hashed in the inference log, written as missing (serve.log_*)"
        )
    if check.refused:
        print(f"dataset: the batch's labels are refused ({check.reason}); nothing added -> {written[-1]}")
    counts = Counter(why for text in reasons[broken] for why in text.split("; "))
    top = ", ".join(f"{why} ({count})" for why, count in counts.most_common(5))
    print(
        f"dataset: {int((~broken).sum())} labelled production rows -> {written[0] if (~broken).any() else 'none'}; "
        f"{int(broken.sum())} quarantined"
        + (f" -> {written[-1]} ({top})" if broken.any() else "")
        + f"; {skipped} seen before. Tracked with dvc add: commit the .dvc files, then `make push`"
    )
    return 0
