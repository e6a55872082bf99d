"""THE data contract as typed objects: what every column of the raw data must be (ColumnSpec, Contract), its
schema.yaml form, and the row-level rules that the service, batch scoring and `dataset` apply to single rows.

schema.yaml lists every column of the raw data (the target included) with its kind (columns.KINDS), whether it
may hold nulls, its numeric range, its allowed categories (low-cardinality strings, and the labels of a
classification target), and bounds on the row count. A near-unique string column (an id, free text) is marked
`feature: false`: never a model input. The pipeline infers the contract (pipeline/schema.py) and checks whole
tables against it with Great Expectations (pipeline/validate.py); this module knows neither.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from . import io
from .columns import KINDS, Kind, Treatment, dtype_kind, feature_columns, treatment
from .errors import ContractError, ProjectError, first_error
from .params import SCHEMA_FILE

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

    @property
    def numeric(self) -> bool:
        """Whether its values are numbers (integer or float), whatever the model does with them."""
        return KINDS[self.kind].numeric

    @property
    def treatment(self) -> Treatment:
        """How models and the drift check treat it: numbers without categories are numeric, the rest categorical."""
        return treatment(self.kind, self.categories)

    def __post_init__(self) -> None:
        if not self.numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"column {self.name!r}: minimum/maximum only apply to integer and float columns")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"column {self.name!r}: minimum {self.minimum} is above maximum {self.maximum}")
        if self.categories is not None:
            if not KINDS[self.kind].listable:
                raise ValueError(f"column {self.name!r}: categories only apply to string and integer columns")
            if not self.categories:
                raise ValueError(f"column {self.name!r}: categories is empty")
            wanted = KINDS[self.kind].python
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


# --- checking rows one by one -------------------------------------------------------------------


def _kind_mask(column: pd.Series, kind: Kind) -> pd.Series:
    """True where a present value is not of the contract kind; whole columns by dtype, object columns value by value."""
    present = column.notna()
    held = dtype_kind(column.dtype)
    if held is None:
        return present & ~column.map(KINDS[kind].fits)
    if held == "integer" and kind == "float":  # whole numbers fit a float contract
        return present & False
    if held == "float" and kind == "integer":  # a float column holds integers where its values are whole
        return present & (column % 1 != 0)
    return present & (held != kind)


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
