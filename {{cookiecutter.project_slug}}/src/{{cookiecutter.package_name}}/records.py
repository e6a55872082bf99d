"""THE rules of a record the model scores, for the service and batch scoring alike: the plausible range of a number,
the id column, the version of a model with its request fields, the check of a whole column of input values (with a
stable reason code per rejected row) and the DataFrame the model is given.

The service types each request with pydantic (serving/schema.py builds its fields from `plausible_range` and
`max_string_length`); batch scoring checks whole columns here (`check_columns`) with the same rules, so a record the
service answers with a 400 is a record batch scoring rejects, and one the service predicts is predicted alike
(`model_frame` is how both build the model's input: tests/integration/batch checks the parity).

The contract's own range and categories are not enforced (a value outside them is drift, which the drift check must
see): only a number beyond the plausible range (a typo or an attack, which overflows a model's scaler), a wrong type,
a missing required value, a non-finite number, or text over `serve.max_string_length`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass as pydantic_dataclass

from .columns import KINDS, Kind, dtype_kind
from .contract import ColumnSpec, Contract
from .params import Params, ServeParams

PACKAGE = __name__.split(".")[0]  # the model's name in a version: the service's bento and batch scoring

INT64 = (-(2**63), 2**63 - 1)  # integer features become int64 columns: a larger value cannot be one

# The reasons a record is rejected, by stable code (batch scoring's `reason_code`; the service answers them as 400s).
REASONS: Final[dict[str, str]] = {
    "missing_column": "the input has no such column",
    "missing_value": "a required value is missing",
    "wrong_type": "the value is not of the column's kind",
    "not_finite": "the number is not finite",
    "out_of_range": "the number is outside the plausible range",
    "too_long": "the text is longer than serve.max_string_length",
    "bad_id": "the id is empty, too long or not of the id column's kind",
    "malformed": "the line cannot be read as a record",
}
_TRUE = frozenset({"true", "1", "1.0", "t", "yes"})
_FALSE = frozenset({"false", "0", "0.0", "f", "no"})


def plausible_range(
    minimum: float | None, maximum: float | None, factor: float, integer: bool = False
) -> tuple[float, float] | None:
    """[minimum - factor * scale, maximum + factor * scale], rounded outwards to two significant digits.

    The scale is the larger of the range's width and its largest magnitude (1 when both are 0), so a
    narrow range far from zero (a year, 1990..2024) still accepts values near zero. No range: no bound,
    except that an integer must fit in int64. Integer bounds are whole numbers.
    """
    if minimum is None or maximum is None:
        return INT64 if integer else None
    scale = max(maximum - minimum, abs(minimum), abs(maximum)) or 1.0
    reach = factor * scale
    step = 10.0 ** (math.floor(math.log10(reach)) - 1)
    digits = max(0, -math.floor(math.log10(step)))
    low = round(math.floor((minimum - reach) / step) * step, digits)
    high = round(math.ceil((maximum + reach) / step) * step, digits)
    if integer:
        return max(math.floor(low), INT64[0]), min(math.ceil(high), INT64[1])
    return low, high


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class IdColumn:
    """data.id_column as a request field: a record may carry its id. No kind when schema.yaml does not list it."""

    name: str
    kind: Kind | None = None

    @classmethod
    def of(cls, contract: Contract, name: str | None) -> IdColumn | None:
        """data.id_column `name` with its kind in the contract; None without an id column."""
        if not name:
            return None
        return cls(name, contract.column(name).kind if name in contract.names else None)


# --- the model's version --------------------------------------------------------------------------


def model_version(
    model_bytes: bytes, features: Sequence[ColumnSpec], id_column: IdColumn | None, serve: ServeParams
) -> str:
    """A model's version: a hash of the model's bytes and of what types its records (fields, id, limits). The service's
    /predict and batch scoring answer it, and the monitoring store keeps each version's rows apart by it."""
    identity = json.dumps(request_identity(features, id_column, serve), sort_keys=True).encode()
    return hashlib.sha256(model_bytes + identity).hexdigest()[:16]


def served_version(model_bytes: bytes, contract: Contract, params: Params) -> str:
    """The version the service and batch scoring answer for a model with this contract and params,
    "<package>:<model_version>"; the monitoring store's `model=` partition is its hash (store.version_key)."""
    id_column = IdColumn.of(contract, params.data.id_column)
    hashed = model_version(model_bytes, contract.feature_specs(params.data.id_column), id_column, params.serve)
    return f"{PACKAGE}:{hashed}"


def request_identity(features: Sequence[ColumnSpec], id_column: IdColumn | None, serve: ServeParams) -> dict[str, Any]:
    """The metadata of the record fields, the id column and the serve limits: what the version hash covers."""
    identity: dict[str, Any] = {
        "features": [_feature(spec) for spec in features],
        "serve": serve.model_dump(mode="json", exclude={"smoke_rows"}),
    }
    if id_column is not None:
        identity["id_column"] = {"name": id_column.name} | ({"kind": id_column.kind} if id_column.kind else {})
    return identity


def _feature(spec: ColumnSpec) -> dict[str, Any]:
    """One record field as metadata: name, kind, nullable, and the contract's categories or (two-sided) range."""
    feature: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "nullable": spec.nullable}
    if spec.categories:
        feature["categories"] = list(spec.categories)
    if spec.minimum is not None and spec.maximum is not None:
        feature["minimum"], feature["maximum"] = float(spec.minimum), float(spec.maximum)
    return feature


# --- checking whole columns -----------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    """Columns of input values checked against the record rules: the typed values, and per row its first problem."""

    columns: dict[str, pd.Series]  # per feature, its values as the model's kind (a rejected row's value: any)
    ids: pd.Series | None  # the id column's values as text (None: no id column in the input)
    problem: np.ndarray  # per row, 0 when it passed, else 1 + the index of its first problem in `problems`
    problems: list[tuple[str, str]]  # (reason code, "<column>: <reason>") of each problem found

    @property
    def ok(self) -> np.ndarray:
        """Whether each row passed."""
        passed: np.ndarray = self.problem == 0
        return passed

    def reasons(self, rows: np.ndarray) -> tuple[list[str], list[str]]:
        """(reason codes, messages) of some rejected rows."""
        found = [self.problems[index - 1] for index in self.problem[rows].tolist()]
        return [code for code, _ in found], [message for _, message in found]


def _numbers(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(values as float64, rows whose present value is not a number). Booleans are not numbers (as in a request)."""
    present = values.notna().to_numpy()
    held = dtype_kind(values.dtype)
    if held is not None and KINDS[held].numeric:
        return values.astype("float64"), np.zeros(len(values), dtype=bool)
    if held == "boolean":
        return pd.Series(np.nan, index=values.index), present
    as_object = values.astype(object)
    is_bool = as_object.map(lambda value: isinstance(value, bool | np.bool_)).to_numpy(dtype=bool)
    text = as_object.where(~is_bool)
    numbers = pd.to_numeric(text.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce")
    numbers = numbers.astype("float64")
    return numbers, present & (numbers.isna().to_numpy() | is_bool)


def _booleans(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(values as True/False/None objects, rows whose present value is not a boolean: true/false, 1/0, yes/no)."""
    if dtype_kind(values.dtype) == "boolean":
        return values.astype(object).where(values.notna(), None), np.zeros(len(values), dtype=bool)
    words = values.astype(object).map(lambda v: None if v is None or v is pd.NA else str(v).strip().lower())
    parsed = words.map(lambda word: True if word in _TRUE else False if word in _FALSE else None)
    present = values.notna().to_numpy()
    return parsed.astype(object), present & parsed.isna().to_numpy()


def _texts(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(values as text, none wrong): a number read from a typed file becomes its text, as a CSV gives it."""
    if dtype_kind(values.dtype) == "string":
        return values, np.zeros(len(values), dtype=bool)
    as_object = values.astype(object)
    floats = as_object.map(lambda v: isinstance(v, float) and float(v).is_integer())
    text = as_object.where(~floats, as_object.map(lambda v: str(int(v)) if isinstance(v, float) else v))
    return text.map(lambda v: None if v is None or v is pd.NA else str(v)).astype("str"), np.zeros(len(values), bool)


def _column_problems(
    values: pd.Series, spec: ColumnSpec, factor: float, max_length: int | None
) -> tuple[pd.Series, list[tuple[np.ndarray, str, str]]]:
    """One feature's typed values and its (rows, code, message) problems, in the order they are reported."""
    name, kind = spec.name, KINDS[spec.kind]
    problems: list[tuple[np.ndarray, str, str]] = []
    missing = values.isna().to_numpy()
    if not spec.nullable:
        problems.append((missing, "missing_value", f"{name}: missing"))
    if kind.numeric:
        typed, wrong = _numbers(values)
        number = typed.to_numpy()
        if spec.kind == "integer":
            wrong |= ~missing & np.isfinite(number) & (np.mod(number, 1) != 0)
        problems.append((wrong, "wrong_type", f"{name}: not {'an' if spec.kind == 'integer' else 'a'} {spec.kind}"))
        infinite = np.isinf(number)
        problems.append((infinite, "not_finite", f"{name}: not a finite number"))
        bound = plausible_range(spec.minimum, spec.maximum, factor, integer=spec.kind == "integer")
        if bound is not None:
            outside = ~infinite & ((number < bound[0]) | (number > bound[1]))
            problems.append(
                (outside, "out_of_range", f"{name}: outside the plausible range [{bound[0]:g}, {bound[1]:g}]")
            )
        return typed, problems
    if spec.kind == "boolean":
        typed, wrong = _booleans(values)
        problems.append((wrong, "wrong_type", f"{name}: not a boolean"))
        return typed, problems
    typed, _ = _texts(values)
    if max_length is not None:
        long = typed.str.len().to_numpy(dtype="float64", na_value=0) > max_length
        problems.append((long, "too_long", f"{name}: longer than {max_length} characters"))
    return typed, problems


def _id_problems(values: pd.Series, id_column: IdColumn, max_length: int | None) -> tuple[pd.Series, np.ndarray]:
    """(ids as text, rows whose present id is empty, too long, or not of the id column's kind). A missing id is
    no problem: the record gets a new one."""
    present = values.notna().to_numpy()
    python = KINDS[id_column.kind].python if id_column.kind else None
    if python is int:
        numbers, wrong = _numbers(values)
        number = numbers.to_numpy()
        wrong |= present & np.isfinite(number) & (np.mod(number, 1) != 0)
        wrong |= present & ~wrong & ((number < INT64[0]) | (number > INT64[1]))
        text = pd.Series([None if np.isnan(v) else str(int(v)) for v in number], index=values.index, dtype=object)
        return text.where(~wrong, None), wrong
    text, _ = _texts(values)
    lengths = text.str.len().to_numpy(dtype="float64", na_value=-1)
    wrong = present & ((lengths == 0) | (lengths > (max_length if max_length is not None else math.inf)))
    return text.astype(object).where(text.notna(), None), wrong


def check_columns(
    frame: pd.DataFrame,
    features: Sequence[ColumnSpec],
    id_column: IdColumn | None,
    serve: ServeParams,
) -> Checked:
    """Each row of `frame` (input values as read: text from a CSV, typed from Parquet) against the record rules.

    A required feature the frame lacks rejects every row (`missing_column`); a nullable one is null on every row (as
    a field left out of a request). Other columns of the frame are not looked at.
    A row's reason is its first problem, features in the model's order.
    """
    rows = len(frame)
    problem = np.zeros(rows, dtype=np.int32)
    found: list[tuple[str, str]] = []

    def report(mask: np.ndarray, reason: str, text: str) -> None:
        if mask.any():
            found.append((reason, text))
            problem[mask & (problem == 0)] = len(found)

    columns: dict[str, pd.Series] = {}
    for spec in features:
        if spec.name not in frame.columns:
            if not spec.nullable:
                report(np.ones(rows, dtype=bool), "missing_column", f"{spec.name}: no such column in the input")
            values = pd.Series([None] * rows, index=frame.index, dtype=object)
            columns[spec.name] = _column_problems(values, spec, serve.value_bound_factor, serve.max_string_length)[0]
            continue
        typed, problems = _column_problems(frame[spec.name], spec, serve.value_bound_factor, serve.max_string_length)
        for mask, reason, text in problems:
            report(mask, reason, text)
        columns[spec.name] = typed
    ids = None
    if id_column is not None and id_column.name in frame.columns:
        ids, wrong = _id_problems(frame[id_column.name], id_column, serve.max_string_length)
        report(wrong, "bad_id", f"{id_column.name}: {REASONS['bad_id'].removeprefix('the id is ')}")
    return Checked(columns, ids, problem, found)


def model_frame(columns: Mapping[str, pd.Series | np.ndarray], features: Sequence[ColumnSpec]) -> pd.DataFrame:
    """The DataFrame the model is given, as training saw it: every feature numeric, one float64 block (rows x
    features, as the service builds it); else one column per feature in its kind's dtype (with nulls: the kind's
    dtype_with_nulls). Both the service and batch scoring build it so: the same values give the same predictions."""
    names = [spec.name for spec in features]
    if all(spec.numeric for spec in features):
        block = np.empty((len(next(iter(columns.values()))) if columns else 0, len(names)), dtype=np.float64)
        for index, name in enumerate(names):
            block[:, index] = np.asarray(columns[name], dtype=np.float64)
        return pd.DataFrame(block, columns=names, copy=False)
    data = {}
    for spec in features:
        kind = KINDS[spec.kind]
        dtype: Any = kind.dtype  # a pandas dtype name (the stubs type astype by literal names only)
        with_nulls: Any = kind.dtype_with_nulls
        values = pd.Series(columns[spec.name]).reset_index(drop=True)
        if spec.numeric:
            numbers = values.astype("float64")
            whole = spec.kind == "integer" and not numbers.isna().any()
            data[spec.name] = numbers.astype(dtype) if whole else numbers
        elif values.isna().any():
            data[spec.name] = values.astype(with_nulls).where(values.notna(), None)
        else:
            data[spec.name] = values.astype(dtype)
    return pd.DataFrame(data)
