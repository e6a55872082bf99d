"""The service's requests and answers as pydantic models: a record typed from the contract's ColumnSpecs, a feedback
label, the bodies of POST /predict (and /explain) and POST /feedback, and their responses (they make the OpenAPI
schema too).

A record is strict: a missing or unknown field, a wrong type, a number outside its plausible range (limits.py) or a
string over serve.max_string_length is a 400 that names the field. A category the contract does not list is not an
error (the model's encoder ignores it): the service names it in the answer's `unknown`, for the drift check to judge.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..columns import KINDS, Kind
from ..contract import ColumnSpec
from ..records import INT64, IdColumn, plausible_range
from .config import Label
from .runner import Row

ID_KEY = "record_id"  # the record model's field for data.id_column (features are f0, f1, ...)
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def record_model(
    features: Sequence[ColumnSpec],
    value_bound_factor: float = 1000.0,
    max_string_length: int | None = None,
    id_column: IdColumn | None = None,
) -> type[BaseModel]:
    """The strict pydantic model of one record: fields, types and nullability of the features.

    Fields are named f0, f1, ... with the feature names as aliases, so that any column name works (even one like
    `json` that a pydantic attribute has). Nullable features may be null or left out. The contract's numeric ranges
    and categories are not enforced (a value outside them is drift, which the drift check must see), only the
    plausible range (records.plausible_range). With `id_column`, the record may also carry its id (field `record_id`).
    """
    fields: dict[str, Any] = {}
    for index, spec in enumerate(features):
        kind = _feature_type(spec, value_bound_factor, max_string_length)
        if spec.nullable:
            fields[f"f{index}"] = (kind | None, Field(None, alias=spec.name))
        else:
            fields[f"f{index}"] = (kind, Field(alias=spec.name))
    if id_column is not None:
        note = "the record's id, answered in `ids` and used by /feedback (default: a new one)"
        id_type = _id_type(id_column.kind, max_string_length)
        fields[ID_KEY] = (id_type | None, Field(None, alias=id_column.name, description=note))
    return create_model("Record", __config__=_STRICT, **fields)


def _feature_type(spec: ColumnSpec, value_bound_factor: float, max_string_length: int | None) -> Any:
    """The strict Python type of one feature's value, with its bounds (they appear in the OpenAPI schema)."""
    python = KINDS[spec.kind].python
    kind: Any = python
    if spec.numeric:
        bound = plausible_range(spec.minimum, spec.maximum, value_bound_factor, integer=python is int)
        if bound is not None:
            kind = Annotated[kind, Field(ge=bound[0], le=bound[1])]
    elif python is str and max_string_length is not None:
        kind = Annotated[kind, Field(max_length=max_string_length)]
    if spec.categories:
        known = ", ".join(map(str, spec.categories))
        note = f"known categories: {known}; another value is predicted and named in the answer's `unknown`"
        kind = Annotated[kind, Field(description=note)]
    return kind


def _id_type(kind: Kind | None, max_string_length: int | None) -> Any:
    """A record id: an int64 when its kind's values are integers, a non-empty bounded string when they are strings,
    else either (no kind: schema.yaml does not list the id column)."""
    text = Annotated[str, Field(min_length=1, max_length=max_string_length)]
    number = Annotated[int, Field(ge=INT64[0], le=INT64[1])]
    python = KINDS[kind].python if kind else None
    return number if python is int else text if python is str else text | number


def feedback_model(classes: Sequence[Label] | None, max_id_length: int | None = None) -> type[BaseModel]:
    """The strict pydantic model of one ground-truth label of /feedback: {"id": ..., "label": ...}. The id is the
    string /predict answered in `ids`; the label is one of the classes (classification) or a finite number
    (regression)."""
    label: Any = Literal[tuple(classes)] if classes is not None else float
    return create_model("Feedback", __config__=_STRICT, id=(_id_type("string", max_id_length), ...), label=(label, ...))


def unknown_categories(features: Sequence[ColumnSpec]) -> Callable[[Sequence[Row]], list[list[str]]]:
    """rows -> for each row, the features whose value is a category the contract does not list."""
    checks = [(index, spec.name, frozenset(spec.categories)) for index, spec in enumerate(features) if spec.categories]

    def find(rows: Sequence[Row]) -> list[list[str]]:
        if not checks:
            return [[] for _ in rows]
        return [
            [name for index, name, known in checks if row[index] is not None and row[index] not in known]
            for row in rows
        ]

    return find


def predict_input(record: type[BaseModel], max_records: int) -> type[BaseModel]:
    """The body of POST /predict: {"records": [...]} with 1..max_records records."""
    # valid-type: `record` is a model made at run time, which mypy cannot check as a static type
    records = Annotated[list[record], Field(min_length=1, max_length=max_records)]  # type: ignore[valid-type]
    doc = 'The request body: {"records": [...]}; any other top-level key is a 400 too.'
    return _api_input("PredictInput", doc, records=(records, ...))


def feedback_input(label: type[BaseModel], max_records: int) -> type[BaseModel]:
    """The body of POST /feedback: {"feedback": [{"id": ..., "label": ...}, ...]} with 1..max_records labels."""
    # valid-type: `label` is a model made at run time, which mypy cannot check as a static type
    feedback = Annotated[list[label], Field(min_length=1, max_length=max_records)]  # type: ignore[valid-type]
    doc = 'The request body: {"feedback": [{"id": ..., "label": ...}, ...]}, 1..serve.max_records labels.'
    return _api_input("FeedbackInput", doc, feedback=(feedback, ...))


def _api_input(name: str, doc: str, **fields: Any) -> type[BaseModel]:
    """A request body of the BentoML API: an IODescriptor (BentoML's pydantic model of an API's input) that refuses
    any other key. Its name is in a 400's answer ("1 validation error for PredictInput") and in the OpenAPI schema."""
    from bentoml import IODescriptor

    forbid = ConfigDict(extra="forbid")
    return create_model(name, __base__=IODescriptor, __config__=forbid, __doc__=doc, __module__=__name__, **fields)


class PredictResponse(BaseModel):
    """Predictions in request order; for classification, each record's class probabilities too. `ids`: each
    record's id; `unknown`: for each record, the features whose category the contract does not list."""

    predictions: list[str | int | float | bool]
    probabilities: list[dict[str, float]] | None = None
    ids: list[str]
    unknown: list[list[str]]
    model_version: str


class ExplainResponse(BaseModel):
    """Each record's additive explanation (serving/explain.py): `base_value` plus the sum of its `contributions` (one
    per feature of the request, a categorical feature's one-hot columns summed) is the model's raw output: log-odds
    for a linear or boosted classifier, a random forest's class probability, a regressor's prediction. `classes`:
    the class explained for each record (the second of two; else the predicted one), None for a regressor."""

    base_value: list[float]
    contributions: list[dict[str, float]]
    classes: list[str | int | float | bool] | None = None
    ids: list[str]
    model_version: str


class FeedbackResponse(BaseModel):
    """How many labels of the request went to the inference log (all of them, or none when it is full or off)."""

    accepted: int
