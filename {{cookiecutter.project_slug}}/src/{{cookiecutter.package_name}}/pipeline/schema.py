"""`schema`: infer the data contract (schema.yaml) from data/raw/: one spec per column, observed and widened.

Numeric ranges are the observed ones widened by contract.range_margin (never across zero), low-cardinality
strings and classification labels get their categories, and a near-unique string column (an id, free text) is
marked `feature: false`, so the split leaves it out and no model memorises ids or one-hot encodes thousands of
texts. The contract's types, its file and its row rules are the core's (contract.py).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import pandas as pd

from .. import io
from ..columns import KINDS, column_kind
from ..contract import ColumnSpec, Contract, write_contract
from ..errors import ContractError
from ..params import RAW_DATA, SCHEMA_FILE, ContractParams, load_params

# --- inference ---------------------------------------------------------------------------------


def _step(span: float) -> float:
    """A round step about 1/1000 of the span, so bounds read like 12.34 rather than 12.3371929."""
    return 10.0 ** (math.floor(math.log10(span)) - 3)


def widened_range(low: float, high: float, margin: float, integer: bool) -> tuple[float, float]:
    """[low, high] widened by `margin` times its span on both sides, rounded outwards."""
    span = high - low or abs(high) or 1.0
    wide_low, wide_high = low - margin * span, high + margin * span
    # Never widen across zero: non-negative data (counts, sizes) stays non-negative, negative stays negative.
    if low >= 0:
        wide_low = max(0.0, wide_low)
    elif high <= 0:
        wide_high = min(0.0, wide_high)
    low, high = wide_low, wide_high
    if integer:
        return float(math.floor(low)), float(math.ceil(high))
    step = _step(span)
    digits = max(0, -math.floor(math.log10(step)))
    return round(math.floor(low / step) * step, digits), round(math.ceil(high / step) * step, digits)


def infer_column(
    series: pd.Series, settings: ContractParams, *, is_target: bool, labelled: bool, is_id: bool
) -> ColumnSpec:
    """The spec of one column, as observed, widened by the margins in `settings`."""
    kind = column_kind(series)
    values = series.dropna()
    null_fraction = 1 - len(values) / len(series) if len(series) else 0.0
    nullable = null_fraction > 0 and not (is_target or is_id)
    spec: dict[str, Any] = {"name": str(series.name), "kind": kind, "nullable": nullable}
    if nullable:
        spec["max_null_fraction"] = min(1.0, round(null_fraction + settings.null_margin, 4))
    # No range for ids (new rows bring new ids) nor for integer class labels (they get categories).
    if KINDS[kind].numeric and len(values) and not is_id and not (labelled and kind == "integer"):
        low, high = float(values.min()), float(values.max())
        spec["minimum"], spec["maximum"] = widened_range(low, high, settings.range_margin, kind == "integer")
    distinct = values.nunique() if kind == "string" else 0
    if kind == "string" and not is_id and (labelled or distinct <= settings.max_categories):
        spec["categories"] = tuple(sorted(values.astype(str).unique()))
    elif kind == "string" and not (is_id or is_target) and distinct > settings.near_unique_share * len(values):
        # Never a model input, so the service neither takes nor logs it: labelled production rows (`dataset`) come
        # without it, and the contract must not require it.
        spec.update(feature=False, nullable=True, max_null_fraction=None)
    elif kind == "integer" and labelled:
        spec["categories"] = tuple(sorted(int(value) for value in values.unique()))
    if is_id:
        spec["unique"] = bool(values.is_unique)
    return ColumnSpec(**spec)


def infer_contract(
    frame: pd.DataFrame, target: str, task: str, settings: ContractParams, id_column: str | None = None
) -> Contract:
    """The contract that `frame` satisfies: one spec per column, row bounds from its length."""
    if target not in frame.columns:
        raise ContractError(f"the target {target!r} is not a column of the data")
    if frame.empty:
        raise ContractError("the data has no rows: a contract cannot be inferred from it")
    columns = tuple(
        infer_column(
            frame[name],
            settings,
            is_target=name == target,
            labelled=name == target and task == "classification",
            is_id=name == id_column,
        )
        for name in frame.columns
    )
    rows = len(frame)
    max_rows = None if settings.max_rows_factor is None else math.ceil(rows * settings.max_rows_factor)
    return Contract(
        columns=columns, target=target, min_rows=max(1, math.floor(rows * settings.min_rows_factor)), max_rows=max_rows
    )


def schema_command(args: argparse.Namespace) -> int:
    """`schema`: infer schema.yaml from data/raw/."""
    params = load_params()
    frame = io.read_table(RAW_DATA)
    contract = infer_contract(frame, params.data.target, params.task, params.contract, params.data.id_column)
    write_contract(contract, SCHEMA_FILE)
    categorical = sum(spec.categories is not None for spec in contract.columns)
    for spec in contract.columns:
        if not spec.feature:
            distinct = frame[spec.name].nunique()
            print(
                f"schema: warning: {spec.name!r} looks like an id or free text ({distinct} distinct values in "
                f"{frame[spec.name].notna().sum()} rows): marked `feature: false`, the model will not use it"
            )
    print(
        f"schema: {len(contract.columns)} columns ({categorical} with categories), "
        f"{contract.min_rows}..{contract.max_rows or 'any'} rows -> {SCHEMA_FILE} (review it with git diff)"
    )
    return 0
