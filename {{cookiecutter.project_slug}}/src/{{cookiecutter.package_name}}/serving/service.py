"""The BentoML service: `POST /predict` and `POST /feedback` on the model that `package` (packaging.py) put in the
model store.

The stored model carries everything the service needs (the request fields and ranges from schema.yaml,
the serve limits, the classes, the id column, the monitoring store), so a built bento is self-contained
and never reads params.yaml. The service types each record from that metadata: a missing or unknown
field, a wrong type, a number outside its plausible range (limits.py), a string over
serve.max_string_length or a batch outside 1..serve.max_records is a 400 that names the field; a body
over serve.max_body_bytes is a 413, one that is not JSON a 415. A category the contract does not list is
not an error (the model's encoder ignores it): the record is predicted and the answer's `unknown` names
the field, for the drift check to judge.

The rows of every request join one queue (batcher.py); while the model (runner.py) predicts a batch,
the requests that arrive meanwhile form the next one (up to serve.max_batch_rows rows). The model runs
in the event loop's thread, between rounds of HTTP. A request the model cannot predict fails alone
(422), never the others of its batch; one that waits serve.max_wait_seconds, or finds the queue full, gets a 503 with
Retry-After; the rows of a client that disconnected never reach the model. /metrics adds the model's own
metrics (prometheus.py) to BentoML's.

Every answered record has an id (the record's data.id_column value, else a new one) and goes to the
inference log (log_writer.py) with its prediction, marked `test` when the request says `X-Traffic: test`:
each predicted batch is handed over whole (its DataFrame and arrays), with its requests' ids and flags;
`POST /feedback` sends ground-truth labels by id to the same log. The model's Prometheus metrics
(prometheus.py) count predictions, unknown categories, log drops and labels through the plain hooks of `Hooks`.

BentoML is imported inside functions only: the command layer imports this module before the model store
(BENTOML_HOME) is chosen, and tests import it without starting anything.
"""

import asyncio
import functools
import gc
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .. import io, store
from ..columns import KINDS
from ..errors import ProjectError
from ..params import ServeParams
from .batcher import AdaptiveBatcher, ClientGone, Overloaded
from .bentoml_fixes import cancel_request_timers
from .limits import INT64, BodyLimit, Receive, plausible_range
from .log_writer import SALT_ENV, Answered, LogWriter, store_root
from .prometheus import METRICS_ENV, model_metrics
from .runner import ModelRunner

MODEL_NAME = __name__.split(".")[0]  # the name of the model in the BentoML store, and of the bento
MODEL_FILE_NAME = "model.joblib"  # inside the stored model's folder
MODEL_TAG_ENV = "SERVICE_MODEL_TAG"  # which stored model to serve (default: the latest packaged)
TRAFFIC_HEADER = "x-traffic"  # "test" marks smoke tests, load tests and demos: their rows are logged as test
ID_KEY = "record_id"  # the record model's field for data.id_column (features are f0, f1, ...)

logger = logging.getLogger(__name__)


class ClientErrorFilter(logging.Filter):
    """BentoML logs every rejected request at ERROR with a traceback ("Exception on /predict [POST]" and, for
    a body that fails typing, pydantic's text of every error). A bad request is the client's mistake: it
    becomes one WARNING line in the service's own format, "POST /predict: 400, <field>: <problem>; ...".
    The client's answer is BentoML's, unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a rejected request's record; pass every record on."""
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            reason = f"400, {validation_errors(error)}"
        elif (status := _client_status(error)) is not None:
            reason = f"{status}, {error}"
        else:
            return True
        record.msg = f"{_request_of(record)}: {reason}"
        record.args, record.exc_info, record.exc_text = (), None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


BENTOML_REQUEST_ERROR = "Exception on %s [%s]"  # BentoML's log_exception: (path, method)
SHOWN_ERRORS = 3  # a request's validation errors named in its log line; the rest are counted


def validation_errors(error: ValidationError) -> str:
    """The first SHOWN_ERRORS problems of a request on one line, each with its field, and how many more there are
    (the client's values stay out of the log)."""
    found = error.errors(include_url=False, include_context=False, include_input=False)
    shown = [f"{'.'.join(map(str, item['loc'])) or '(top level)'}: {item['msg']}" for item in found[:SHOWN_ERRORS]]
    more = f" (and {len(found) - SHOWN_ERRORS} more)" if len(found) > SHOWN_ERRORS else ""
    return "; ".join(shown) + more


def _request_of(record: logging.LogRecord) -> str:
    """The rejected request's method and path ("POST /predict") from BentoML's record, else the record's text."""
    if record.msg == BENTOML_REQUEST_ERROR and isinstance(record.args, tuple) and len(record.args) == 2:
        path, method = record.args
        return f"{method} {path}"
    return record.getMessage()


def _client_status(error: BaseException | None) -> int | None:
    """The 4xx status of one of BentoML's own client errors (e.g. a body it cannot decode), else None."""
    code = getattr(getattr(error, "error_code", None), "value", None)
    return code if isinstance(code, int) and 400 <= code < 500 else None


@dataclass(frozen=True)
class Hooks:
    """Plain callbacks for counters (e.g. Prometheus metrics); each one does nothing by default."""

    on_predicted: Callable[[Sequence[tuple], Sequence[Any]], None] = lambda rows, predictions: None  # each batch
    on_dropped: Callable[[int], None] = lambda rows: None  # log rows dropped (buffer full, store down at shutdown)
    on_feedback: Callable[[int], None] = lambda labels: None  # ground-truth labels accepted by /feedback
    on_unknown: Callable[[str, int], None] = lambda feature, records: None  # records with an unknown category


# --- requests and responses ----------------------------------------------------------------------


def _feature_type(spec: Mapping[str, Any], value_bound_factor: float, max_string_length: int | None) -> Any:
    """The strict Python type of one feature's value, with its bounds (they appear in the OpenAPI schema)."""
    kind: Any = KINDS[spec["kind"]].python
    categories = spec.get("categories")
    if KINDS[spec["kind"]].numeric:
        integer = spec["kind"] == "integer"
        bound = plausible_range(spec.get("minimum"), spec.get("maximum"), value_bound_factor, integer)
        if bound is not None:
            kind = Annotated[kind, Field(ge=bound[0], le=bound[1])]
    elif spec["kind"] == "string" and max_string_length is not None:
        kind = Annotated[kind, Field(max_length=max_string_length)]
    if categories:
        known = ", ".join(map(str, categories))
        note = f"known categories: {known}; another value is predicted and named in the answer's `unknown`"
        kind = Annotated[kind, Field(description=note)]
    return kind


def record_model(
    features: Sequence[Mapping[str, Any]],
    value_bound_factor: float = 1000.0,
    max_string_length: int | None = None,
    id_column: Mapping[str, Any] | None = None,
) -> type[BaseModel]:
    """The strict pydantic model of one record: fields, types and nullability of the features.

    Fields are named f0, f1, ... with the feature names as aliases, so that any column name works
    (even one like `json` that a pydantic attribute has). Nullable features may be null or left out.
    The contract's numeric ranges are not enforced (an out-of-range value is drift, which the drift
    check must see), only their plausible range (limits.plausible_range); strings have at most
    `max_string_length` characters. Categories are not enforced either: an unknown one is drift too
    (`unknown_categories` finds them). With `id_column` ({"name", "kind"}), the record may also carry
    its id (field `record_id`): a string of 1..max_string_length characters or an integer.
    """
    fields: dict[str, Any] = {}
    for index, spec in enumerate(features):
        kind = _feature_type(spec, value_bound_factor, max_string_length)
        if spec["nullable"]:
            fields[f"f{index}"] = (kind | None, Field(None, alias=spec["name"]))
        else:
            fields[f"f{index}"] = (kind, Field(alias=spec["name"]))
    if id_column is not None:
        note = "the record's id, answered in `ids` and used by /feedback (default: a new one)"
        fields[ID_KEY] = (
            _id_type(id_column.get("kind"), max_string_length) | None,
            Field(None, alias=id_column["name"], description=note),
        )
    config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
    return create_model("Record", __config__=config, **fields)


def _id_type(kind: str | None, max_string_length: int | None) -> Any:
    """A record id: an integer when the contract says so, a non-empty bounded string when it says so, else either."""
    text = Annotated[str, Field(min_length=1, max_length=max_string_length)]
    number = Annotated[int, Field(ge=INT64[0], le=INT64[1])]
    return {"integer": number, "string": text}.get(kind or "", text | number)


def unknown_categories(features: Sequence[Mapping[str, Any]]) -> Callable[[Sequence[tuple]], list[list[str]]]:
    """rows -> for each row, the features whose value is a category the contract does not list."""
    checks = [
        (index, spec["name"], frozenset(spec["categories"]))
        for index, spec in enumerate(features)
        if spec.get("categories")
    ]

    def find(rows: Sequence[tuple]) -> list[list[str]]:
        if not checks:
            return [[] for _ in rows]
        return [
            [name for index, name, known in checks if row[index] is not None and row[index] not in known]
            for row in rows
        ]

    return find


def feedback_model(classes: Sequence[Any] | None, max_id_length: int | None = None) -> type[BaseModel]:
    """The strict pydantic model of one ground-truth label of /feedback: {"id": ..., "label": ...}. The id is the
    string /predict answered in `ids`; the label is one of the classes (classification) or a finite number
    (regression)."""
    label: Any = Literal[tuple(classes)] if classes is not None else float
    config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
    return create_model("Feedback", __config__=config, id=(_id_type("string", max_id_length), ...), label=(label, ...))


class PredictResponse(BaseModel):
    """Predictions in request order; for classification, each record's class probabilities too. `ids`: each
    record's id; `unknown`: for each record, the features whose category the contract does not list."""

    predictions: list[str | int | float | bool]
    probabilities: list[dict[str, float]] | None = None
    ids: list[str]
    unknown: list[list[str]]
    model_version: str


class FeedbackResponse(BaseModel):
    """How many labels of the request went to the inference log (all of them, or none when it is full or off)."""

    accepted: int


def traffic_of(headers: Mapping[str, str]) -> str:
    """store.TEST when the request says `X-Traffic: test` (smoke tests, load tests, demos), else store.LIVE."""
    return store.TEST if headers.get(TRAFFIC_HEADER, "").strip().lower() == store.TEST else store.LIVE


def refuse(ctx: Any, status: int, message: str, retry_after: int | None = None) -> Any:
    """The JSON answer {"error": message} with this status (BentoML takes the status from the context)."""
    from starlette.responses import JSONResponse

    ctx.response.status_code = status
    if retry_after is not None:
        ctx.response.headers["Retry-After"] = str(retry_after)
    return JSONResponse({"error": message}, status_code=status)


async def disconnected(receive: Receive) -> None:
    """Returns once the client has gone: its body is read, so the next ASGI message is http.disconnect
    (or the one that follows the response)."""
    while (await receive())["type"] != "http.disconnect":
        pass


# --- the BentoML service -------------------------------------------------------------------------


def bento_model_tag(module_file: Path = Path(__file__)) -> str | None:
    """Inside a built bento (<bento>/src/<package>/serving/service.py), the model tag that bento was built with."""
    bento_yaml = module_file.resolve().parents[3] / "bento.yaml"
    if not bento_yaml.is_file():
        return None
    for service in io.read_yaml(bento_yaml).get("services", []):
        for model in service.get("models", []):
            if str(model.get("tag", "")).startswith(f"{MODEL_NAME}:"):
                return model["tag"]
    return None


def make_service(tag: str | None = None, hooks: Hooks | None = None) -> Any:
    """The BentoML service class for a stored model: `tag`, else $SERVICE_MODEL_TAG, else the model a
    built bento pins, else the latest packaged one. `hooks` receive the service's counts (default: the
    model's Prometheus metrics, prometheus.py)."""
    import bentoml
    import joblib

    cancel_request_timers()  # BentoML's per-request timers, left alive for a minute (bentoml_fixes.py)
    tag = tag or os.environ.get(MODEL_TAG_ENV) or bento_model_tag() or f"{MODEL_NAME}:latest"
    model_ref = bentoml.models.BentoModel(tag)
    stored = model_ref.stored
    if stored is None:
        raise ProjectError(f"no model {model_ref.tag} in the BentoML store: run `make package` first")
    metadata = stored.info.metadata
    features = metadata["features"]
    limits = ServeParams.model_validate(metadata["serve"])  # a model packaged before a limit existed: its default
    classes = metadata.get("classes")
    version = str(stored.tag)
    record = record_model(features, limits.value_bound_factor, limits.max_string_length, metadata.get("id_column"))
    label = feedback_model(classes, limits.max_string_length)

    class PredictInput(bentoml.IODescriptor):
        """The request body: {"records": [...]}; any other top-level key is a 400 too."""

        model_config = ConfigDict(extra="forbid")
        records: Annotated[list[record], Field(min_length=1, max_length=limits.max_records)]  # type: ignore[valid-type]

    class FeedbackInput(bentoml.IODescriptor):
        """The request body: {"feedback": [{"id": ..., "label": ...}, ...]}, 1..serve.max_records labels."""

        model_config = ConfigDict(extra="forbid")
        feedback: Annotated[list[label], Field(min_length=1, max_length=limits.max_records)]  # type: ignore[valid-type]

    # Tracing is off by default (tracing.sample_rate 0), yet its middleware builds a span per request:
    # /predict skips it (measured +35% req/s). Drop `tracing` here when you configure an exporter.
    # The access log is off for the same reason; /metrics counts requests by endpoint and status.
    @bentoml.service(
        name=MODEL_NAME,
        workers=1,
        logging={"access": {"enabled": False}},
        tracing={"excluded_urls": ["/predict"]},
    )
    class Predictor:
        """Predicts records with the packaged model; /livez, /readyz and /metrics come from BentoML."""

        bento_model = model_ref  # a class attribute: `bentoml build` pins it (export/containerize copy it)

        def __init__(self) -> None:
            model = joblib.load(Path(self.bento_model.path) / MODEL_FILE_NAME)
            self.runner = ModelRunner(model, features)
            self.model_version = version
            metrics = model_metrics(version, metadata, stored.info.labels, os.environ.get(METRICS_ENV))
            counts = hooks or Hooks(
                on_predicted=metrics.observe,
                on_unknown=metrics.unknown_categories,
                on_dropped=metrics.log_dropped,
                on_feedback=metrics.feedback_received,
            )
            self.log = make_log(metadata, version, counts.on_dropped)
            self.book = Bookkeeper(features, ID_KEY in record.model_fields, self.log, counts)
            self.batcher = AdaptiveBatcher(
                self.book.predict_and_log(self.runner),
                limits.max_batch_rows,
                limits.max_queue_rows,
                limits.max_wait_seconds,
                suspects=self.runner.suspects,
            )
            # Everything loaded so far (BentoML, sklearn, the model) lives as long as the process: moved out
            # of the garbage collector's sight, full collections stop pausing requests (p99 -55% measured).
            gc.collect()
            gc.freeze()
            http_log = logging.getLogger("bentoml._internal.server.http_app")  # where BentoML logs them
            if not any(isinstance(f, ClientErrorFilter) for f in http_log.filters):
                http_log.addFilter(ClientErrorFilter())

        def __is_ready__(self) -> bool:
            return getattr(self, "runner", None) is not None

        @bentoml.on_shutdown
        async def flush_log(self) -> None:
            """On SIGTERM, after the last request is answered: every logged row goes to the store."""
            await asyncio.to_thread(self.book.close)

        async def predict_records(
            self, records: Sequence[Any], gone: Any = None, traffic: str = store.LIVE
        ) -> PredictResponse:
            """The answer for validated records (the API's work, without HTTP); the batcher's errors pass on."""
            rows, ids = self.book.rows_and_ids(records)
            unknown = self.book.find_unknown(rows)
            outputs = await self.batcher.submit(rows, self.book.logged(ids, unknown, traffic), gone=gone)
            return self.book.answer(rows, ids, unknown, outputs, self.model_version)

        @bentoml.api(input_spec=PredictInput)
        async def predict(self, records: list, ctx: bentoml.Context) -> PredictResponse:
            """Predict a batch of records; each record holds every feature of schema.yaml (and may hold its id)."""
            try:
                gone = functools.partial(disconnected, ctx.request.receive)
                return await self.predict_records(records, gone, traffic_of(ctx.request.headers))
            except Overloaded as exc:
                logger.warning("POST /predict: 503, %s", exc)
                return refuse(ctx, 503, f"overloaded, retry later: {exc}", limits.retry_after_seconds)
            except ClientGone as exc:  # nobody reads the answer; /metrics counts it
                return refuse(ctx, 499, str(exc))
            except ValueError as exc:  # the model refused these rows alone (other requests were predicted)
                logger.warning("POST /predict: 422, %d record(s) the model cannot predict: %s", len(records), exc)
                return refuse(ctx, 422, f"the model cannot predict these records: {exc}")

        @bentoml.api(input_spec=FeedbackInput)
        async def feedback(self, feedback: list) -> FeedbackResponse:
            """Ground-truth labels by record id, for the monitoring store (joined with the predictions later)."""
            return self.book.labels(feedback)

    # @bentoml.service made the class a Service; mypy still sees the plain class.
    cast(Any, Predictor).add_asgi_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return Predictor


def new_id() -> str:
    """A new record id: 128 random bits in hex (like a UUID4's hex, at a fifth of its cost)."""
    return os.urandom(16).hex()


class Bookkeeper:
    """Everything the service does around the model: rows and ids of the records, the answer with its unknown
    categories, the inference log and the hooks' counts."""

    def __init__(
        self, features: Sequence[Mapping[str, Any]], has_id: bool, log: LogWriter | None, hooks: Hooks
    ) -> None:
        self.keys = tuple(f"f{index}" for index in range(len(features)))
        self.has_id = has_id
        self.find_unknown = unknown_categories(features)
        self.log = log
        self.hooks = hooks

    def rows_and_ids(self, records: Sequence[Any]) -> tuple[list[tuple], list[str]]:
        """The model's rows (features in order) and each record's id: its data.id_column value, else a new one."""
        rows = [tuple(getattr(item, key) for key in self.keys) for item in records]
        if not self.has_id:
            return rows, [new_id() for _ in records]
        given = (getattr(item, ID_KEY) for item in records)
        return rows, [new_id() if value is None else str(value) for value in given]

    def logged(self, ids: list[str], unknown: list[list[str]], traffic: str) -> Answered | None:
        """What the inference log keeps of a request besides its batch's arrays (None when the log is off)."""
        if self.log is None:
            return None
        return Answered(ids, [",".join(names) or None for names in unknown], traffic)

    def predict_and_log(self, runner: ModelRunner) -> Callable[[Sequence[tuple], Sequence[Any]], list]:
        """The batcher's predict function: each row's answer, and the batch with its requests (the batcher's
        tags, from `logged`) to the inference log. Only batches the model predicted are logged."""
        log = self.log
        if log is None:
            return runner.predict

        def predict(rows: Sequence[tuple], requests: Sequence[Any]) -> list:
            batch = runner.predict_batch(rows)
            log.predictions(batch, requests)  # an append: never raises, never waits
            return runner.outputs(batch)

        return predict

    def answer(
        self,
        rows: list[tuple],
        ids: list[str],
        unknown: list[list[str]],
        outputs: Sequence[tuple[Any, Any]],
        version: str,
    ) -> PredictResponse:
        """The response to predicted rows; their counts and unknown categories to the hooks."""
        predictions = [prediction for prediction, _ in outputs]
        probabilities = [proba for _, proba in outputs] if outputs and outputs[0][1] is not None else None
        self.hooks.on_predicted(rows, predictions)
        for feature in {name for names in unknown for name in names}:
            self.hooks.on_unknown(feature, sum(feature in names for names in unknown))
        return PredictResponse.model_construct(
            predictions=predictions, probabilities=probabilities, ids=ids, unknown=unknown, model_version=version
        )

    def close(self) -> None:
        """Write whatever the inference log holds, and stop it (the service's shutdown hook)."""
        if self.log is not None:
            self.log.close()

    def labels(self, items: Sequence[Any]) -> FeedbackResponse:
        """Validated ground-truth labels to the inference log: all of them, or none when it is full or off."""
        ids = [str(item.id) for item in items]
        accepted = self.log is not None and self.log.feedback(ids, [item.label for item in items])
        if accepted:
            self.hooks.on_feedback(len(ids))
        return FeedbackResponse(accepted=len(ids) if accepted else 0)


def make_log(metadata: Mapping[str, Any], model_version: str, on_dropped: Callable[[int], None]) -> LogWriter | None:
    """The inference log of a stored model's metadata, or None when $MONITOR_STORE is "off"."""
    root = store_root(metadata.get("monitor", {}).get("store", "logs"))
    if root is None:
        return None
    limits = ServeParams.model_validate(metadata["serve"])
    logger.info("inference log: %s", root)
    return LogWriter(
        root,
        metadata["features"],
        model_version,
        metadata.get("classes"),
        drop=limits.log_drop_columns,
        hashed=limits.log_hash_columns,
        salt=os.environ.get(SALT_ENV, ""),
        max_rows=limits.log_buffer_rows,
        flush_seconds=limits.log_flush_seconds,
        part_rows=limits.log_part_rows,
        on_dropped=on_dropped,
    )


def __getattr__(name: str) -> Any:
    """`bentoml serve <package>.service:Predictor` and `bentoml build` find the service here."""
    if name == "Predictor":
        service = make_service()
        globals()["Predictor"] = service
        return service
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
