"""THE table of column kinds, and the rule of feature columns: every wing asks KINDS, none maps a kind itself.

A column has a *kind* in the data contract (integer, float, boolean, string). KINDS holds, per kind, how each
part of the project represents it: the service's Python type, pandas' dtypes, the store's Arrow type, the dtypes
Great Expectations accepts, whether it is a number, and a value of another type (for tests and probes). A
column's *treatment* in the models and the drift check follows: numbers without categories are numeric;
booleans, strings and integer class labels are categorical (a boolean is a two-valued category, never a 0/1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import pandas as pd

from .errors import ContractError

Kind = Literal["integer", "float", "boolean", "string"]
Treatment = Literal["numeric", "categorical"]
NUMERIC: Final = "numeric"
CATEGORICAL: Final = "categorical"

_INTEGER_DTYPES = tuple(f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64))
_INTEGER_DTYPES += tuple(f"{sign}Int{bits}Dtype" for sign in ("", "U") for bits in (8, 16, 32, 64))


@dataclass(frozen=True)
class ColumnKind:
    """One kind of the contract and its representation in every part of the project."""

    name: Kind
    python: type  # a value in a request or a record (the service types its fields with it)
    numeric: bool  # a number: imputed and scaled by the model unless the contract lists categories
    listable: bool  # the contract may list its categories (low-cardinality text, integer class labels)
    arrow: str  # the monitoring store's Parquet type (a pyarrow type alias)
    dtype: str  # the pandas dtype of a column without nulls, as training reads it
    dtype_with_nulls: str  # ... with nulls: whole numbers read as floats (NaN), booleans as objects (None)
    nullable_dtype: str  # a pandas dtype that keeps the kind with nulls (labelled production rows)
    gx_types: tuple[str, ...]  # the dtype names Great Expectations accepts for a column of this kind
    wrong_value: Any  # a JSON value of another type: what a client must not send for it

    def fits(self, value: Any) -> bool:
        """Whether one present value is of this kind (an integer kind takes a whole float: 3.0)."""
        if self.name in ("string", "boolean"):
            return isinstance(value, self.python)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and (self.name == "float" or float(value) % 1 == 0)


KINDS: dict[str, ColumnKind] = {
    kind.name: kind
    for kind in (
        ColumnKind(
            "integer",
            python=int,
            numeric=True,
            listable=True,
            arrow="int64",
            dtype="int64",
            dtype_with_nulls="float64",
            nullable_dtype="Int64",
            gx_types=_INTEGER_DTYPES,
            wrong_value="not a number",
        ),
        ColumnKind(
            "float",
            python=float,
            numeric=True,
            listable=False,
            arrow="double",
            dtype="float64",
            dtype_with_nulls="float64",
            nullable_dtype="float64",
            # an integer column fits a float contract: a CSV of whole numbers reads as int64
            gx_types=("float16", "float32", "float64", "Float32Dtype", "Float64Dtype", *_INTEGER_DTYPES),
            wrong_value="not a number",
        ),
        ColumnKind(
            "boolean",
            python=bool,
            numeric=False,
            listable=False,
            arrow="bool",
            dtype="bool",
            dtype_with_nulls="object",
            nullable_dtype="boolean",
            gx_types=("bool", "BooleanDtype"),
            wrong_value="maybe",
        ),
        ColumnKind(
            "string",
            python=str,
            numeric=False,
            listable=True,
            arrow="string",
            dtype="str",
            dtype_with_nulls="str",
            nullable_dtype="str",
            # text reaches Great Expectations as "string" dtype; in an object column GX checks each value against str
            gx_types=("StringDtype", "str"),
            wrong_value=12345,
        ),
    )
}


def _values_dtype(dtype: Any) -> Any:
    """The dtype of the values themselves: a categorical dtype's categories, else the dtype."""
    return dtype.categories.dtype if isinstance(dtype, pd.CategoricalDtype) else dtype


def is_text(dtype: Any) -> bool:
    """Whether a pandas dtype holds text in pandas' string dtype (`str`, `string`, or categories of them)."""
    return isinstance(_values_dtype(dtype), pd.StringDtype)


def dtype_kind(dtype: Any) -> Kind | None:
    """The contract kind a pandas dtype holds for certain; None for object columns (their values decide)."""
    values = _values_dtype(dtype)
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_integer_dtype(values):
        return "integer"
    if pd.api.types.is_float_dtype(values):
        return "float"
    if is_text(values):
        return "string"
    return None


def column_kind(series: pd.Series) -> Kind:
    """The contract kind of a pandas column; ContractError for types the contract cannot hold."""
    kind = dtype_kind(series.dtype)
    if kind is not None:
        return kind
    dtype = _values_dtype(series.dtype)
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        values = series.dropna()
        if all(isinstance(value, str) for value in values):
            return "string"
        if len(values) and all(isinstance(value, bool) for value in values):
            return "boolean"  # a boolean column with nulls, as pandas reads it without a nullable dtype
        kinds = sorted({type(value).__name__ for value in values})
        raise ContractError(f"column {series.name!r} mixes value types ({', '.join(kinds)}); make it one type")
    raise ContractError(
        f"column {series.name!r} has dtype {series.dtype}: the contract supports integer, float, boolean "
        "and string columns (convert it, e.g. dates to numbers, before ingest)"
    )


def treatment(kind: Kind, categories: Sequence[Any] | None = None) -> Treatment:
    """How models and the drift check treat a contract column: numbers without categories are numeric."""
    return NUMERIC if KINDS[kind].numeric and not categories else CATEGORICAL


def dtype_treatment(dtype: Any) -> Treatment:
    """The same rule from a pandas dtype, when there is no contract: int and float numeric, the rest categorical."""
    kind = None if isinstance(dtype, pd.CategoricalDtype) else dtype_kind(dtype)  # categories are never numbers
    return NUMERIC if kind is not None and KINDS[kind].numeric else CATEGORICAL


def split_by_treatment(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric columns, categorical columns) of a table, by dtype_treatment."""
    numeric = [name for name in frame.columns if dtype_treatment(frame[name].dtype) == NUMERIC]
    return numeric, [name for name in frame.columns if name not in numeric]


def feature_columns(
    columns: Iterable[str], target: str, id_column: str | None, excluded: Iterable[str] = ()
) -> list[str]:
    """The model's input columns, in table order: everything but the target, the id and `excluded`."""
    skip = {target, id_column, *excluded}
    return [name for name in columns if name not in skip]
