"""The BentoML service: `POST /predict` on the model that `package` (packaging.py) put in the model store.

The stored model carries everything the service needs (the request fields and ranges from schema.yaml,
the serve limits), so a built bento is self-contained. The service types each record from that metadata:
a missing or unknown field, a wrong type, an unknown category, a number outside its plausible range
(limits.py), a string over serve.max_string_length or a batch outside 1..serve.max_records is a 400 that
names the field; a body over serve.max_body_bytes is a 413, one that is not JSON a 415.

The rows of every request join one queue (batcher.py); while the model (runner.py) predicts a batch,
the requests that arrive meanwhile form the next one (up to serve.max_batch_rows rows). The model runs
in the event loop's thread, between rounds of HTTP. A request the model cannot predict fails alone
(422), never the others of its batch; one that waits serve.max_wait_seconds, or finds the queue full, gets a 503 with
Retry-After; the rows of a client that disconnected never reach the model. /metrics adds the model's own
metrics (metrics.py) to BentoML's: predictions by class, missing values, the model's version.

BentoML is imported inside functions only: the command layer imports this module before the model store
(BENTOML_HOME) is chosen, and tests import it without starting anything.
"""

import functools
import gc
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .. import io
from ..columns import PYTHON_TYPES
from ..errors import ProjectError, first_error
from ..params import ServeParams
from .batcher import AdaptiveBatcher, ClientGone, Overloaded
from .limits import BodyLimit, Receive, plausible_range
from .metrics import METRICS_ENV, model_metrics
from .runner import ModelRunner, PredictionLog

MODEL_NAME = __name__.split(".")[0]  # the name of the model in the BentoML store, and of the bento
MODEL_FILE_NAME = "model.joblib"  # inside the stored model's folder
LOG_DIR_ENV = "PREDICTION_LOG_DIR"  # folder of the inference log; unset or empty: no log
MODEL_TAG_ENV = "SERVICE_MODEL_TAG"  # which stored model to serve (default: the latest packaged)

logger = logging.getLogger(__name__)


class ClientErrorFilter(logging.Filter):
    """BentoML logs every rejected request with a traceback at ERROR; a bad request is the client's
    mistake, so it becomes one WARNING line that says what was wrong."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a rejected request's record; pass every record on."""
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            reason = f"400, {first_error(error)}"
        elif _client_status(error) is not None:
            reason = f"{_client_status(error)}, {error}"
        else:
            return True
        record.msg = f"{record.getMessage()}: {reason}"
        record.args, record.exc_info, record.exc_text = (), None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _client_status(error: BaseException | None) -> int | None:
    """The 4xx status of one of BentoML's own client errors (e.g. a body it cannot decode), else None."""
    code = getattr(getattr(error, "error_code", None), "value", None)
    return code if isinstance(code, int) and 400 <= code < 500 else None


# --- requests and responses ----------------------------------------------------------------------


def record_model(
    features: Sequence[dict[str, Any]], value_bound_factor: float = 1000.0, max_string_length: int | None = None
) -> type[BaseModel]:
    """The strict pydantic model of one record: fields, types, nullability and categories of the features.

    Fields are named f0, f1, ... with the feature names as aliases, so that any column name works
    (even one like `json` that a pydantic attribute has). Nullable features may be null or left out.
    The contract's numeric ranges are not enforced (an out-of-range value is drift, which the drift
    check must see), only their plausible range (limits.plausible_range); strings without categories
    have at most `max_string_length` characters. Both bounds appear in the OpenAPI schema.
    """
    fields: dict[str, Any] = {}
    for index, spec in enumerate(features):
        kind: Any = PYTHON_TYPES[spec["kind"]]
        if spec.get("categories"):
            kind = Literal[tuple(spec["categories"])]
        elif spec["kind"] in ("integer", "float"):
            integer = spec["kind"] == "integer"
            bound = plausible_range(spec.get("minimum"), spec.get("maximum"), value_bound_factor, integer)
            if bound is not None:
                kind = Annotated[kind, Field(ge=bound[0], le=bound[1])]
        elif spec["kind"] == "string" and max_string_length is not None:
            kind = Annotated[kind, Field(max_length=max_string_length)]
        if spec["nullable"]:
            fields[f"f{index}"] = (kind | None, Field(None, alias=spec["name"]))
        else:
            fields[f"f{index}"] = (kind, Field(alias=spec["name"]))
    config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
    return create_model("Record", __config__=config, **fields)


class PredictResponse(BaseModel):
    """Predictions in request order; for classification, each record's class probabilities too."""

    predictions: list[str | int | float | bool]
    probabilities: list[dict[str, float]] | None = None
    model_version: str


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


def make_service(tag: str | None = None) -> Any:
    """The BentoML service class for a stored model: `tag`, else $SERVICE_MODEL_TAG, else the model a
    built bento pins, else the latest packaged one."""
    import bentoml
    import joblib

    tag = tag or os.environ.get(MODEL_TAG_ENV) or bento_model_tag() or f"{MODEL_NAME}:latest"
    model_ref = bentoml.models.BentoModel(tag)
    stored = model_ref.stored
    if stored is None:
        raise ProjectError(f"no model {model_ref.tag} in the BentoML store: run `make package` first")
    metadata = stored.info.metadata
    features = metadata["features"]
    limits = ServeParams.model_validate(metadata["serve"])  # a model packaged before a limit existed: its default
    version = str(stored.tag)
    record = record_model(features, limits.value_bound_factor, limits.max_string_length)
    fields = tuple(record.model_fields)

    class PredictInput(bentoml.IODescriptor):
        """The request body: {"records": [...]}; any other top-level key is a 400 too."""

        model_config = ConfigDict(extra="forbid")
        records: Annotated[list[record], Field(min_length=1, max_length=limits.max_records)]  # type: ignore[valid-type]

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
            log_dir = os.environ.get(LOG_DIR_ENV)
            log = PredictionLog(Path(log_dir), [spec["name"] for spec in features], version) if log_dir else None
            self.runner = ModelRunner(model, features, log)
            self.batcher = AdaptiveBatcher(
                self.runner.predict,
                limits.max_batch_rows,
                limits.max_queue_rows,
                limits.max_wait_seconds,
                suspects=self.runner.suspects,
            )
            self.model_version = version
            self.metrics = model_metrics(version, metadata, stored.info.labels, os.environ.get(METRICS_ENV))
            # Everything loaded so far (BentoML, sklearn, the model) lives as long as the process: moved out
            # of the garbage collector's sight, full collections stop pausing requests (p99 -55% measured).
            gc.collect()
            gc.freeze()
            http_log = logging.getLogger("bentoml._internal.server.http_app")  # where BentoML logs them
            if not any(isinstance(f, ClientErrorFilter) for f in http_log.filters):
                http_log.addFilter(ClientErrorFilter())

        def __is_ready__(self) -> bool:
            return getattr(self, "runner", None) is not None

        async def predict_records(self, records: Sequence[Any], gone: Any = None) -> PredictResponse:
            """The answer for validated records (the API's work, without HTTP); the batcher's errors pass on."""
            rows = [tuple(getattr(item, name) for name in fields) for item in records]
            outputs = await self.batcher.submit(rows, uuid.uuid4().hex, gone)
            predictions = [prediction for prediction, _ in outputs]
            self.metrics.observe(rows, predictions)
            probabilities = [proba for _, proba in outputs] if self.runner.classes is not None else None
            return PredictResponse.model_construct(
                predictions=predictions, probabilities=probabilities, model_version=self.model_version
            )

        @bentoml.api(input_spec=PredictInput)
        async def predict(self, records: list, ctx: bentoml.Context) -> PredictResponse:
            """Predict a batch of records; each record holds every feature of schema.yaml."""
            try:
                return await self.predict_records(records, functools.partial(disconnected, ctx.request.receive))
            except Overloaded as exc:
                logger.warning("POST /predict: 503, %s", exc)
                return refuse(ctx, 503, f"overloaded, retry later: {exc}", limits.retry_after_seconds)
            except ClientGone as exc:  # nobody reads the answer; /metrics counts it
                return refuse(ctx, 499, str(exc))
            except ValueError as exc:  # the model refused these rows alone (other requests were predicted)
                logger.warning("POST /predict: 422, %d record(s) the model cannot predict: %s", len(records), exc)
                return refuse(ctx, 422, f"the model cannot predict these records: {exc}")

    # @bentoml.service made the class a Service; mypy still sees the plain class.
    cast(Any, Predictor).add_asgi_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    return Predictor


def __getattr__(name: str) -> Any:
    """`bentoml serve <package>.service:Predictor` and `bentoml build` find the service here."""
    if name == "Predictor":
        service = make_service()
        globals()["Predictor"] = service
        return service
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
