"""One batch of rows through the model: checked by the record rules (records.py, the service's), the good rows
predicted, the bad ones rejected with their reason. Pure: a RawBatch in, two Arrow tables out. The local engine
(predict.py) and Spark's tasks (spark.py) both call `Scorer.score`, so their outputs are the same rows and bytes.

With `predict --log` (a Scorer with `log`), the scored rows also come as the monitoring store keeps predictions
(store.py): the features by the contract's types (serve.log_drop_columns left out, serve.log_hash_columns hashed as
the service does), `_id`, `_ts` (the run's start), `_model_version`, `_prediction`, `_probabilities` and
`_traffic: batch`, which `monitor` counts as traffic unless `monitor.include_batch` is false.

The output has the id column (the input's, else `<file>:<row>`: the file's path below the input folder without its
suffix, and the row's index in it: the same on every run and for every format of the same rows), `prediction`,
one `proba_<class>` per class (classifiers) and `model_version`. A rejected row keeps its values as read (as text),
with `reason_code`, `reason`, `source` (the file), `row` (its index in the file) and `run_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import store
from ..columns import KINDS
from ..contract import ColumnSpec
from ..params import ServeParams
from ..records import IdColumn, check_columns, model_frame
from .sources import RawBatch

PREDICTION: Final = "prediction"
MODEL_VERSION: Final = "model_version"
PROBA_PREFIX: Final = "proba_"
REJECT_FIELDS: Final = ("reason_code", "reason", "source", "row", "run_id")
DEFAULT_ID: Final = "id"  # the output's id column when data.id_column is not set


@dataclass(frozen=True)
class Scored:
    """A batch's outcome: the predicted rows and the rejected rows, as Arrow tables of the output's schemas, and
    (`predict --log`) the predicted rows as the monitoring store keeps them."""

    scored: pa.Table
    rejected: pa.Table
    logged: pa.Table | None = None


@dataclass(frozen=True)
class LogRules:
    """`predict --log`: the run's time (every row's `_ts`) and the serve settings' personal-data rules, with the
    HMAC key ($MONITOR_HASH_KEY, store.hash_key) when they hash."""

    when: str  # ISO 8601, UTC
    drop: tuple[str, ...] = ()
    hashed: tuple[str, ...] = ()
    key: str | None = None
    hash_id: bool = False


@dataclass(frozen=True)
class Scorer:
    """The model and the rules a batch is scored with (everything a Spark task needs, picklable)."""

    model: Any  # a fitted scikit-learn estimator (untyped)
    features: tuple[ColumnSpec, ...]
    id_column: IdColumn | None
    serve: ServeParams
    model_version: str
    log: LogRules | None = None

    @property
    def id_name(self) -> str:
        """The output's id column."""
        return self.id_column.name if self.id_column is not None else DEFAULT_ID

    @property
    def classes(self) -> np.ndarray | None:
        """A classifier's classes, in its order; None for a regressor."""
        return np.asarray(self.model.classes_) if hasattr(self.model, "predict_proba") else None

    @property
    def input_columns(self) -> list[str]:
        """The columns read from the input: the features, and the id column when there is one."""
        names = [spec.name for spec in self.features]
        return names + ([self.id_column.name] if self.id_column is not None else [])

    def output_schema(self) -> pa.Schema:
        """The schema of the scored rows."""
        fields = [pa.field(self.id_name, pa.string())]
        classes = self.classes
        if classes is None:
            fields.append(pa.field(PREDICTION, pa.float64()))
        else:
            fields.append(
                pa.field(PREDICTION, pa.from_numpy_dtype(classes.dtype) if classes.dtype.kind in "iub" else pa.string())
            )
            fields += [pa.field(f"{PROBA_PREFIX}{label}", pa.float64()) for label in classes.tolist()]
        fields.append(pa.field(MODEL_VERSION, pa.string()))
        return pa.schema(fields)

    def logged_schema(self) -> pa.Schema:
        """The schema of the rows `predict --log` writes to the monitoring store."""
        fields = []
        for spec in self.features:
            if self.log is not None and spec.name in self.log.drop:
                continue
            hashed = self.log is not None and spec.name in self.log.hashed
            fields.append(pa.field(spec.name, pa.string() if hashed else pa.type_for_alias(KINDS[spec.kind].arrow)))
        kind = self.output_schema().field(PREDICTION).type
        fields += [
            pa.field(store.ID, pa.string()),
            pa.field(store.TS, store.UTC_TIME),
            pa.field(store.MODEL_VERSION, pa.string()),
            pa.field(store.PREDICTION, kind),
        ]
        classes = self.classes
        if classes is not None:
            names = [str(label) for label in classes.tolist()]
            fields.append(pa.field(store.PROBABILITIES, pa.struct([pa.field(name, pa.float64()) for name in names])))
        fields += [pa.field(store.TRAFFIC, pa.string()), pa.field(store.UNKNOWN, pa.string())]
        return pa.schema(fields)

    def rejected_schema(self) -> pa.Schema:
        """The schema of the rejected rows: the input's columns as text, and why."""
        fields = [pa.field(name, pa.string()) for name in self.input_columns]
        fields += [
            pa.field("reason_code", pa.string()),
            pa.field("reason", pa.string()),
            pa.field("source", pa.string()),
            pa.field("row", pa.int64()),
            pa.field("run_id", pa.string()),
        ]
        return pa.schema(fields)

    def score(self, raw: RawBatch, source: str, id_prefix: str, run_id: str) -> Scored:
        """Check and predict one batch read from `source`; new ids are `<id_prefix>:<row>`."""
        checked = check_columns(raw.frame, self.features, self.id_column, self.serve)
        predictions, probabilities, failed = self._predict(checked.columns, np.flatnonzero(checked.ok))
        bad = np.flatnonzero(~checked.ok)
        codes, messages = checked.reasons(bad)
        if len(failed):
            codes += ["model_error"] * len(failed)
            messages += ["the model cannot predict this row (it raised, or its output is not finite)"] * len(failed)
            bad = np.concatenate([bad, failed])
            order = np.argsort(bad, kind="stable")
            bad, codes, messages = bad[order], [codes[i] for i in order], [messages[i] for i in order]
        good = np.setdiff1d(np.flatnonzero(checked.ok), failed) if len(failed) else np.flatnonzero(checked.ok)
        ids = self._ids(checked.ids, raw.rows, id_prefix)
        scored = self._scored(ids.take(pa.array(good)), predictions, probabilities)
        rejected = self._rejected(raw, bad, codes, messages, source, run_id)
        logged = None if self.log is None else self._logged(self.log, checked.columns, good, scored)
        return Scored(scored, rejected, logged)

    def _predict(
        self, columns: dict[str, pd.Series], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """The predictions (and a classifier's probabilities) of `rows`, in order, leaving out the rows the model
        fails on (found by halving the batch: one bad row never fails the others); and those rows."""
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        failed: list[int] = []
        pending = [rows]
        while pending:
            part = pending.pop()
            if not len(part):
                continue
            try:
                parts.append((part, *self._model_outputs(columns, part)))
            except ValueError:
                if len(part) == 1:
                    failed.append(int(part[0]))
                else:
                    pending += [part[len(part) // 2 :], part[: len(part) // 2]]
        parts.sort(key=lambda found: int(found[0][0]))
        classes = self.classes
        if not parts:
            empty = np.empty(0, dtype=np.float64 if classes is None else classes.dtype)
            return empty, None if classes is None else np.empty((0, len(classes))), np.asarray(failed, np.int64)
        predictions = np.concatenate([found[1] for found in parts])
        probabilities = (
            None if classes is None else np.concatenate([found[2] for found in parts if found[2] is not None])
        )
        return predictions, probabilities, np.asarray(sorted(failed), dtype=np.int64)

    def _model_outputs(self, columns: dict[str, pd.Series], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (and a classifier's probabilities) of some rows, as the service's runner computes them."""
        frame = model_frame({name: values.to_numpy()[rows] for name, values in columns.items()}, self.features)
        classes = self.classes
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            raw = self.model.predict_proba(frame) if classes is not None else self.model.predict(frame)
        values = np.asarray(raw)
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise ValueError("the model's output is not finite")
        if classes is None:
            return values.astype(np.float64), None
        return classes[values.argmax(axis=1)], values

    @staticmethod
    def _ids(ids: pd.Series | None, rows: np.ndarray, prefix: str) -> pa.Array:
        """The rows' ids as text: the input's where it has one, else `<prefix>:<row>`."""
        made = pc.binary_join_element_wise(prefix, pc.cast(pa.array(rows, pa.int64()), pa.string()), ":")
        if ids is None:
            return made
        return pc.coalesce(pa.array(ids.to_numpy(dtype=object), pa.string(), from_pandas=True), made)

    def _scored(self, ids: pa.Array, predictions: np.ndarray, probabilities: np.ndarray | None) -> pa.Table:
        schema = self.output_schema()
        kind = schema.field(PREDICTION).type
        values = [str(value) for value in predictions.tolist()] if pa.types.is_string(kind) else predictions
        columns: list[Any] = [ids, pa.array(values, kind)]
        if probabilities is not None:
            columns += [pa.array(probabilities[:, index], pa.float64()) for index in range(probabilities.shape[1])]
        columns.append(pa.repeat(pa.scalar(self.model_version, pa.string()), len(predictions)))
        return pa.Table.from_arrays(columns, schema=schema)

    def _logged(self, rules: LogRules, columns: dict[str, pd.Series], good: np.ndarray, scored: pa.Table) -> pa.Table:
        """The scored rows as the monitoring store keeps predictions (logged_schema)."""
        schema = self.logged_schema()
        features = {
            spec.name: pa.array(
                columns[spec.name].to_numpy()[good], pa.type_for_alias(KINDS[spec.kind].arrow), from_pandas=True
            )
            for spec in self.features
            if spec.name not in rules.drop
        }
        logged: dict[str, Any] = store.private_columns(features, rules.drop, rules.hashed, rules.key)
        rows = scored.num_rows
        logged[store.ID] = store.logged_ids(
            scored.column(self.id_name).to_pylist(), rules.key if rules.hash_id else None
        )
        logged[store.TS] = pa.repeat(pa.scalar(datetime.fromisoformat(rules.when), store.UTC_TIME), rows)
        logged[store.MODEL_VERSION] = scored.column(MODEL_VERSION)
        logged[store.PREDICTION] = scored.column(PREDICTION)
        classes = self.classes
        if classes is not None:
            names = [str(label) for label in classes.tolist()]
            arrays = [scored.column(f"{PROBA_PREFIX}{label}").combine_chunks() for label in classes.tolist()]
            logged[store.PROBABILITIES] = pa.StructArray.from_arrays(arrays, names=names)
        logged[store.TRAFFIC] = pa.repeat(pa.scalar(store.BATCH), rows)
        logged[store.UNKNOWN] = pa.nulls(rows, pa.string())
        return pa.Table.from_pydict({field.name: logged[field.name] for field in schema}, schema=schema)

    def _rejected(
        self, raw: RawBatch, bad: np.ndarray, codes: list[str], messages: list[str], source: str, run_id: str
    ) -> pa.Table:
        schema = self.rejected_schema()
        columns: list[Any] = []
        for name in self.input_columns:
            values = raw.frame[name].iloc[bad].tolist() if name in raw.frame.columns else [None] * len(bad)
            columns.append(pa.array([_as_text(value) for value in values], pa.string()))
        columns += [
            pa.array(codes, pa.string()),
            pa.array(messages, pa.string()),
            pa.array([source] * len(bad), pa.string()),
            pa.array(raw.rows[bad], pa.int64()),
            pa.array([run_id] * len(bad), pa.string()),
        ]
        table = pa.Table.from_arrays(columns, schema=schema)
        if raw.malformed:
            table = pa.concat_tables([table, self.malformed(raw.malformed, source, run_id)])
        return table

    def malformed(self, lines: Sequence[tuple[int, str]], source: str, run_id: str) -> pa.Table:
        """Rejected rows for lines that could not be read as records: the line as read in the first column."""
        schema = self.rejected_schema()
        count = len(lines)
        columns: list[Any] = [pa.nulls(count, pa.string()) for _ in self.input_columns]
        if columns:
            columns[0] = pa.array([text for _, text in lines], pa.string())
        columns += [
            pa.array(["malformed"] * count, pa.string()),
            pa.array(["the line cannot be read as a record (the line as read is in the first column)"] * count),
            pa.array([source] * count, pa.string()),
            pa.array([row for row, _ in lines], pa.int64()),
            pa.array([run_id] * count, pa.string()),
        ]
        return pa.Table.from_arrays(columns, schema=schema)


def _as_text(value: Any) -> str | None:
    """A value as read, as text (None stays null)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value)
