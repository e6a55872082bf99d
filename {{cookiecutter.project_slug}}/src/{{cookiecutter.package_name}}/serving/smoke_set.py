"""The smoke set: holdout rows and the answers the packaged model gives them, carried with the model.

`package` stores it in the model (and in build/smoke.json); scripts/smoke.py sends the rows to a deployed
service, waits until it reports this model's version, and checks the answers and one bad request. The
bad request is chosen from the contract: a required field left out, or (when every field may be left
out) a value of the wrong type, so the probe expects a 400 that every contract can give.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..columns import KINDS
from ..contract import ColumnSpec


def plain(value: Any) -> Any:
    """A JSON value the service accepts for a table cell: numpy scalars unwrapped, missing values as null."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value


def probe(features: Sequence[ColumnSpec]) -> dict[str, Any]:
    """A request the service must refuse with a 400 naming `field`: a required field dropped, else a wrong type."""
    required = next((spec for spec in features if not spec.nullable), None)
    if required is not None:
        return {"field": required.name, "drop": True}
    first = features[0]
    return {"field": first.name, "drop": False, "value": KINDS[first.kind].wrong_value}


def request_records(frame: pd.DataFrame, names: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of `frame` as /predict records: the named fields, JSON values, missing values as null."""
    rows = frame[list(names)].itertuples(index=False)
    return [{name: plain(value) for name, value in zip(names, row, strict=True)} for row in rows]


def smoke_set(
    model: Any, frame: pd.DataFrame, features: Sequence[ColumnSpec], model_version: str, rows: int
) -> dict[str, Any]:
    """Up to `rows` rows of `frame` as request records, with the model's answers, its version and the probe."""
    names = [spec.name for spec in features]
    sample = frame[names].head(rows)
    records = request_records(sample, names)
    predictions = [plain(value) for value in np.asarray(model.predict(sample)).tolist()] if records else []
    return {"model_version": model_version, "records": records, "predictions": predictions, "probe": probe(features)}
