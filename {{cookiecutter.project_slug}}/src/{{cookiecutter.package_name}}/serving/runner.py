"""The model behind the service: rows (tuples in feature order) -> a DataFrame like the training one ->
predictions. No BentoML here: the service's batcher calls `predict_batch`, logs each Batch (log_writer.py)
and answers each request its rows' `outputs`.

A model that cannot take a batch raises (a ValueError when the values are at fault: scikit-learn's input
checks, or an output that is not finite), so that the batcher can find the request at fault;
`suspects` points at it cheaply when the model's preprocessing overflows.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..columns import KINDS
from ..contract import ColumnSpec

Row = tuple[Any, ...]  # one record's feature values, in feature order (None: missing)
Output = tuple[Any, dict[str, float] | None]  # one row's prediction, and its class probabilities (classifiers)


class Batch(NamedTuple):
    """One predicted batch, as arrays: no Python object per row (the inference log keeps these a while)."""

    frame: pd.DataFrame  # the rows as the model saw them
    predictions: np.ndarray  # one per row
    probabilities: np.ndarray | None  # rows x classes (the model's classes_ order); None for a regressor
    block: np.ndarray | None = None  # the frame's values as one float64 array when every feature is numeric


class ModelRunner:
    """Turns rows (tuples in feature order) into a DataFrame like the training one and predicts them."""

    def __init__(self, model: Any, features: Sequence[ColumnSpec]) -> None:
        self.model = model
        self.columns = [spec.name for spec in features]
        self.kinds = [KINDS[spec.kind] for spec in features]
        # Integers as floats change no prediction: the numeric preprocessing computes in float64.
        self.all_numeric = all(spec.numeric for spec in features)
        self.classes = np.asarray(model.classes_) if hasattr(model, "predict_proba") else None

    def block(self, rows: Sequence[Row]) -> np.ndarray | None:
        """The rows as one float64 array (rows x features, nulls as NaN) when every feature is numeric, else None."""
        return np.array(rows, dtype=np.float64) if self.all_numeric else None

    def frame(self, rows: Sequence[Row], block: np.ndarray | None = None) -> pd.DataFrame:
        """The rows as a DataFrame with the dtypes training saw (nulls as NaN); `block`: the rows' `block`, if made."""
        block = self.block(rows) if block is None else block
        if block is not None:  # one float block: ~20x faster than a Series per column (and not copied)
            return pd.DataFrame(block, columns=self.columns, copy=False)
        data = {}
        for name, kind, values in zip(self.columns, self.kinds, zip(*rows, strict=True), strict=True):
            has_null = any(value is None for value in values)
            data[name] = pd.Series(values, dtype=kind.dtype_with_nulls if has_null else kind.dtype)
        return pd.DataFrame(data)

    def predict_batch(self, rows: Sequence[Row]) -> Batch:
        """The rows' frame and the model's answers as arrays (what the inference log keeps of a batch).

        Classifiers predict the most probable class, which is what their predict() returns.
        """
        block = self.block(rows)
        frame = self.frame(rows, block)
        # An overflow inside the model is caught below or by scikit-learn's own checks (a ValueError, so
        # that only its request fails): numpy's warning for it would be noise in the server's log.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            raw = self.model.predict_proba(frame) if self.classes is not None else self.model.predict(frame)
        values = np.asarray(raw)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise ValueError("the model's output is not finite for these values (an overflow in the model)")
        if self.classes is None:
            return Batch(frame, values, None, block)
        return Batch(frame, self.classes[values.argmax(axis=1)], values, block)

    def outputs(self, batch: Batch) -> list[Output]:
        """(prediction, {class: probability} or None) per row of a predicted batch: what the service answers."""
        predictions = batch.predictions.tolist()
        if batch.probabilities is None or self.classes is None:
            return [(prediction, None) for prediction in predictions]
        keys = [str(label) for label in self.classes.tolist()]
        probabilities = [dict(zip(keys, row, strict=True)) for row in batch.probabilities.tolist()]
        return list(zip(predictions, probabilities, strict=True))

    def predict(self, rows: Sequence[Row], requests: Sequence[Any] = ()) -> list[Output]:
        """(prediction, {class: probability} or None) per row (`requests`, the batcher's tags, are not used)."""
        return self.outputs(self.predict_batch(rows))

    def suspects(self, rows: Sequence[Row]) -> list[int]:
        """The rows that the preprocessing of a scikit-learn Pipeline turns infinite (an overflow: what its
        last step refuses), for the batcher to try alone; [] for a model that is not such a Pipeline."""
        if len(getattr(self.model, "steps", ())) < 2:
            return []
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            transformed = self.model[:-1].transform(self.frame(rows))
        values = transformed.toarray() if hasattr(transformed, "toarray") else np.asarray(transformed, dtype=float)
        return np.flatnonzero(np.isinf(values).any(axis=1)).tolist()
