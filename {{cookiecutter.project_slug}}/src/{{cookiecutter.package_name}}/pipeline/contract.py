"""The data contract: infer schema.yaml from data/raw/, and load it back as typed objects.

schema.yaml lists every column of the raw data (the target included) with its kind, whether it may
hold nulls, its numeric range (the observed range widened by a margin), its allowed categories
(low-cardinality strings, and the labels of a classification target), and bounds on the row count.
A near-unique string column (an id, free text) is marked `feature: false`: the split leaves it out, so
a model never memorises ids nor one-hot encodes thousands of texts. The validate stage turns the
contract into a Great Expectations suite; the service types its requests with it.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from .. import io
from ..columns import Kind, column_kind, feature_columns, is_text
from ..errors import ContractError, ProjectError, first_error
from ..params import RAW_DATA, SCHEMA_FILE, ContractParams, load_params

SCHEMA_VERSION = 1
HEADER = (
    "# The data contract of data/raw/: inferred from the data by `make schema`, then reviewed in git like code.\n"
    "# The validate stage checks every version of the data against it; the service types its requests with it.\n"
    "# Numeric ranges are the observed ones widened by contract.range_margin (params.yaml); edit any bound by hand.\n"
)
_STRICT = ConfigDict(extra="forbid", strict=False)


@dataclass(frozen=True, config=_STRICT)
class ColumnSpec:
    """One column of the contract."""

    name: str
    kind: Kind
    nullable: bool
    minimum: float | None = None
    maximum: float | None = None
    # Allowed values: low-cardinality string columns, and the labels of a classification target.
    categories: tuple[str, ...] | tuple[int, ...] | None = None
    # Largest tolerated fraction of nulls when nullable (None = no limit).
    max_null_fraction: float | None = None
    unique: bool = False
    # False for a near-unique string column (an id, free text): kept in the data, never a model input.
    feature: bool = True

    def __post_init__(self) -> None:
        numeric = self.kind in ("integer", "float")
        if not numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"column {self.name!r}: minimum/maximum only apply to integer and float columns")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"column {self.name!r}: minimum {self.minimum} is above maximum {self.maximum}")
        if self.categories is not None:
            if self.kind not in ("string", "integer"):
                raise ValueError(f"column {self.name!r}: categories only apply to string and integer columns")
            if not self.categories:
                raise ValueError(f"column {self.name!r}: categories is empty")
            wanted = str if self.kind == "string" else int
            if not all(type(value) is wanted for value in self.categories):
                raise ValueError(f"column {self.name!r}: categories of a {self.kind} column must be {self.kind}s")
        if self.max_null_fraction is not None and not 0 <= self.max_null_fraction <= 1:
            raise ValueError(f"column {self.name!r}: max_null_fraction must be between 0 and 1")


@dataclass(frozen=True, config=_STRICT)
class Contract:
    """The whole contract: every column of data/raw/ (the target included) and the row-count bounds."""

    columns: tuple[ColumnSpec, ...]
    target: str
    min_rows: int = 1
    max_rows: int | None = None
    version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"a column is listed twice: {sorted({n for n in names if names.count(n) > 1})}")
        if self.target not in names:
            raise ValueError(f"the target {self.target!r} is not one of the columns")
        if self.min_rows < 0 or (self.max_rows is not None and self.max_rows < self.min_rows):
            raise ValueError(f"row bounds {self.min_rows}..{self.max_rows} are not a range")
        if self.version != SCHEMA_VERSION:
            raise ValueError(f"version {self.version} is not supported (expected {SCHEMA_VERSION})")

    @property
    def names(self) -> tuple[str, ...]:
        """The column names, in contract order."""
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnSpec:
        """The spec of one column; KeyError if the contract has no such column."""
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def feature_specs(self, id_column: str | None) -> tuple[ColumnSpec, ...]:
        """The model's inputs: every column but the target, the id and the columns marked `feature: false`."""
        excluded = [spec.name for spec in self.columns if not spec.feature]
        names = set(feature_columns(self.names, self.target, id_column, excluded))
        return tuple(spec for spec in self.columns if spec.name in names)


_CONTRACT = TypeAdapter(Contract)


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
    if kind in ("integer", "float") and len(values) and not is_id and not (labelled and kind == "integer"):
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


# --- checking rows one by one -------------------------------------------------------------------


def _fits(value: Any, kind: Kind) -> bool:
    """Whether one present value is of a contract kind (an integer kind takes a whole float: 3.0)."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and (kind == "float" or float(value) % 1 == 0)


def _kind_mask(column: pd.Series, kind: Kind) -> pd.Series:
    """True where a present value is not of the contract kind; whole columns by dtype, object columns value by value."""
    present = column.notna()
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return present & (kind != "boolean")
    if pd.api.types.is_numeric_dtype(dtype):
        return present & (column % 1 != 0) if kind == "integer" else present & (kind != "float")
    if is_text(dtype):
        return present & (kind != "string")
    return present & ~column.map(lambda value: _fits(value, kind))


def column_problems(column: pd.Series, spec: ColumnSpec) -> list[tuple[np.ndarray, str]]:
    """(rows, reason) pairs for one column against its spec: kind, nulls, range and categories.

    The row-level rules of the contract, as validate.py's suite checks them for a whole table; the table-level
    ones (row count, duplicates, null fractions, uniqueness) do not apply to a single row.
    """
    name = spec.name
    wrong_kind = _kind_mask(column, spec.kind).fillna(False).astype(bool)
    found = [(wrong_kind, f"{name}: not {'an' if spec.kind == 'integer' else 'a'} {spec.kind}")]
    if not spec.nullable:
        found.append((column.isna(), f"{name}: missing"))
    fits = column.notna() & ~wrong_kind
    if spec.minimum is not None or spec.maximum is not None:
        numbers = pd.to_numeric(column.where(fits), errors="coerce")
        if spec.minimum is not None:
            found.append(((numbers < spec.minimum).fillna(False), f"{name}: below the minimum {spec.minimum:g}"))
        if spec.maximum is not None:
            found.append(((numbers > spec.maximum).fillna(False), f"{name}: above the maximum {spec.maximum:g}"))
    if spec.categories is not None:
        outside = fits & ~column.isin(list(spec.categories))
        found.append((outside.astype(bool), f"{name}: not one of the categories"))
    return [(rows.to_numpy(dtype=bool), reason) for rows, reason in found]


def row_problems(frame: pd.DataFrame, contract: Contract) -> pd.Series:
    """Per row, why it breaks the contract ("; "-separated reasons), or "" when it keeps it. A contract
    column that the frame lacks is missing on every row."""
    reasons = pd.Series("", index=frame.index, dtype=object)
    for spec in contract.columns:
        column = frame[spec.name] if spec.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        for rows, reason in column_problems(column, spec):
            if rows.any():
                reasons[rows] = reasons[rows].map(lambda text, why=reason: f"{text}; {why}" if text else why)
    return reasons


# --- reading and writing schema.yaml ----------------------------------------------------------


def contract_to_dict(contract: Contract) -> dict[str, Any]:
    """A plain, ordered dict for schema.yaml (unset optional fields left out)."""
    columns = []
    for spec in contract.columns:
        entry = {key: value for key, value in asdict(spec).items() if value is not None}
        if not entry["unique"]:
            del entry["unique"]
        if entry["feature"]:
            del entry["feature"]
        if "categories" in entry:
            entry["categories"] = list(entry["categories"])
        columns.append(entry)
    rows = {"min": contract.min_rows, "max": contract.max_rows}
    return {"version": contract.version, "target": contract.target, "rows": rows, "columns": columns}


def contract_from_dict(raw: Any) -> Contract:
    """The inverse of contract_to_dict; ValueError (pydantic's ValidationError) when it does not fit."""
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping with version, target, rows and columns")
    data = dict(raw)
    rows = data.pop("rows", None) or {}
    if not isinstance(rows, dict) or set(rows) - {"min", "max"}:
        raise ValueError("rows must be a mapping with min and max")
    data["min_rows"], data["max_rows"] = rows.get("min", 1), rows.get("max")
    return _CONTRACT.validate_python(data)


def write_contract(contract: Contract, path: Path = SCHEMA_FILE) -> None:
    """Write schema.yaml atomically, with its explanatory header."""
    io.write_yaml(contract_to_dict(contract), path, header=HEADER)


def load_contract(path: Path = SCHEMA_FILE) -> Contract:
    """Read schema.yaml; a missing or broken file is a ProjectError that names the problem."""
    if not Path(path).is_file():
        raise ProjectError(f"{path} not found: infer it from the data with `make schema`")
    try:
        return contract_from_dict(io.read_yaml(path))
    except ValidationError as exc:
        raise ContractError(f"{path}: {first_error(exc)}") from None
    except ValueError as exc:
        raise ContractError(f"{path}: {exc}") from None


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
