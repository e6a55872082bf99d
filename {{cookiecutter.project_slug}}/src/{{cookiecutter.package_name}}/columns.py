"""THE rule of column kinds and feature columns, used by the contract, training, validation, drift and serving.

A column has a *kind* in the data contract (integer, float, boolean, string) and a *treatment* in the
models and the drift check: numbers without categories are numeric; booleans, strings and
integer class labels are categorical (a boolean is a two-valued category, never a 0/1 number).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, Literal

import pandas as pd

from .errors import ContractError

Kind = Literal["integer", "float", "boolean", "string"]
Treatment = Literal["numeric", "categorical"]
NUMERIC: Final = "numeric"
CATEGORICAL: Final = "categorical"
PYTHON_TYPES: dict[str, type] = {"integer": int, "float": float, "boolean": bool, "string": str}


def _values_dtype(dtype: Any) -> Any:
    """The dtype of the values themselves: a categorical dtype's categories, else the dtype."""
    return dtype.categories.dtype if isinstance(dtype, pd.CategoricalDtype) else dtype


def is_text(dtype: Any) -> bool:
    """Whether a pandas dtype holds text in pandas' string dtype (`str`, `string`, or categories of them)."""
    return isinstance(_values_dtype(dtype), pd.StringDtype)


def column_kind(series: pd.Series) -> Kind:
    """The contract kind of a pandas column; ContractError for types the contract cannot hold."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    dtype = _values_dtype(dtype)
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
    return NUMERIC if kind in ("integer", "float") and not categories else CATEGORICAL


def dtype_treatment(dtype: Any) -> Treatment:
    """The same rule from a pandas dtype, when there is no contract: int and float numeric, the rest categorical."""
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    return NUMERIC if numeric else CATEGORICAL


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
