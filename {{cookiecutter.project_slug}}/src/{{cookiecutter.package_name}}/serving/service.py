"""The BentoML service: `POST /predict`, `POST /explain` and `POST /feedback` on the model that `package`
(packaging.py) stored; `POST /explain`'s work is explain.py's.

`make_service` reads the stored model's ServiceConfig (config.py: a built bento never reads params.yaml), types the
requests from it (schema.py; a body over serve.max_body_bytes is a 413, one that is not JSON a 415: limits.py) and
gives `ModelService`, which does the work, BentoML's API.

The rows of every request join one queue (batcher.py); while the model (runner.py) predicts a batch, the requests
that arrive meanwhile form the next one (up to serve.max_batch_rows rows), in the event loop's thread. A request the
model cannot predict fails alone (422), never the others of its batch; one that waits serve.max_wait_seconds, or
finds the queue full, gets a 503 with Retry-After; the rows of a client that disconnected never reach the model.
`POST /explain` cannot be batched and may hold a core for seconds: one request at a time (in a worker thread), under
the same limits of waiting rows and seconds, so that /predict keeps the other core.

Every answered record has an id (its data.id_column value, else a new one) and goes to the inference log
(log_writer.py) with its prediction, marked `test` when the request says `X-Traffic: test`; `POST /feedback` sends
ground-truth labels by id to the same log, or answers 503 with Retry-After when the log cannot take them. `Hooks`
count live predictions, unknown categories and labels (test traffic is logged, never counted), and the log's
drops, write failures and backlog: by default the model's Prometheus metrics (prometheus.py), which /metrics
serves beside BentoML's.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import math
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import bentoml  # a lazy module: nothing of BentoML (nor its model store, BENTOML_HOME) is loaded until used
import joblib
from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

from .. import io, store
from ..contract import ColumnSpec
from ..errors import ProjectError
from .batcher import AdaptiveBatcher, ClientGone, OneAtATime, Overloaded
from .bentoml_fixes import cancel_request_timers
from .config import CARD_FILE_NAME, EXPLAIN_FILE_NAME, MODEL_FILE_NAME, MODEL_NAME, ServiceConfig, read_card
from .explain import Explainer, NotExplainable
from .limits import BodyLimit, Receive
from .log_writer import Answered, Backlog, LogWriter, hash_key, spill_folder, store_root
from .prometheus import METRICS_ENV, model_metrics
from .runner import ModelRunner, Output, Row
from .schema import (
    ID_KEY,
    ExplainResponse,
    FeedbackResponse,
    PredictResponse,
    feedback_input,
    feedback_model,
    predict_input,
    record_model,
    unknown_categories,
)

MODEL_TAG_ENV = "SERVICE_MODEL_TAG"  # which stored model to serve (default: the latest packaged)
TRAFFIC_HEADER = "x-traffic"  # "test" marks smoke tests, load tests and demos: their rows are logged as test

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
    """Plain callbacks for counters (e.g. Prometheus metrics); each one does nothing by default. Test traffic
    (`X-Traffic: test`) reaches none of the first three."""

    on_predicted: Callable[[Sequence[Row], Sequence[Any]], None] = lambda rows, predictions: None  # each request
    on_feedback: Callable[[int], None] = lambda labels: None  # ground-truth labels accepted by /feedback
    on_unknown: Callable[[str, int], None] = lambda feature, records: None  # records with an unknown category
    on_dropped: Callable[[int], None] = lambda rows: None  # log rows dropped (buffer full, unwritable at shutdown)
    on_write_failed: Callable[[int], None] = lambda parts: None  # log parts the store refused (each try)
    on_backlog: Callable[[Backlog], None] = lambda backlog: None  # what the log holds for the store (periodically)


def traffic_of(headers: Mapping[str, str]) -> str:
    """store.TEST when the request says `X-Traffic: test` (smoke tests, load tests, demos), else store.LIVE."""
    return store.TEST if headers.get(TRAFFIC_HEADER, "").strip().lower() == store.TEST else store.LIVE


def refuse(ctx: bentoml.Context, status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    """The JSON answer {"error": message} with this status (BentoML takes the status from the context)."""
    ctx.response.status_code = status
    if retry_after is not None:
        ctx.response.headers["Retry-After"] = str(retry_after)
    return JSONResponse({"error": message}, status_code=status)


async def disconnected(receive: Receive) -> None:
    """Returns once the client has gone: its body is read, so the next ASGI message is http.disconnect
    (or the one that follows the response)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def new_id() -> str:
    """A new record id: 128 random bits in hex (like a UUID4's hex, at a fifth of its cost)."""
    return os.urandom(16).hex()


class NotAccepted(Exception):
    """/feedback's labels cannot be kept now (the log's buffer is full, it is closing, or it is off); `retry_after`
    is a number of seconds worth waiting."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Bookkeeper:
    """Everything the service does around the model: rows and ids of the records, the answer with its unknown
    categories, the inference log and the hooks' counts."""

    def __init__(
        self, features: Sequence[ColumnSpec], has_id: bool, log: LogWriter | None, hooks: Hooks, retry_after: int = 1
    ) -> None:
        self.keys = tuple(f"f{index}" for index in range(len(features)))
        self.has_id = has_id
        self.find_unknown = unknown_categories(features)
        self.log = log
        self.hooks = hooks
        self.retry_after = retry_after  # serve.retry_after_seconds: the least Retry-After of a refused /feedback

    def rows_and_ids(self, records: Sequence[BaseModel]) -> tuple[list[Row], list[str]]:
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

    def predict_and_log(self, runner: ModelRunner) -> Callable[[Sequence[Row], Sequence[Any]], list[Output]]:
        """The batcher's predict function: each row's answer, and the batch with its requests (the batcher's
        tags, from `logged`) to the inference log. Only batches the model predicted are logged."""
        log = self.log
        if log is None:
            return runner.predict

        def predict(rows: Sequence[Row], requests: Sequence[Any]) -> list[Output]:
            batch = runner.predict_batch(rows)
            log.predictions(batch, requests)  # an append: never raises, never waits
            return runner.outputs(batch)

        return predict

    def answer(
        self,
        rows: list[Row],
        ids: list[str],
        unknown: list[list[str]],
        outputs: Sequence[Output],
        version: str,
        traffic: str = store.LIVE,
    ) -> PredictResponse:
        """The response to predicted rows; the counts and unknown categories of live traffic to the hooks (a load
        test would move the prediction-shift alert's shares, a prober would keep the no-traffic alert quiet)."""
        predictions = [prediction for prediction, _ in outputs]
        probabilities = [proba for _, proba in outputs if proba is not None] or None  # a classifier's
        if traffic != store.TEST:
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

    def labels(self, items: Sequence[Any], traffic: str = store.LIVE) -> FeedbackResponse:
        """Validated ground-truth labels to the inference log, all of them; NotAccepted when it cannot keep them
        (full, closing or off): the sender keeps them and retries. Test traffic's labels are not counted."""
        ids = [str(item.id) for item in items]
        if self.log is None:
            raise NotAccepted("the inference log is off ($MONITOR_STORE=off): no label is kept", 60)
        if not self.log.feedback(ids, [item.label for item in items]):
            wait = max(self.retry_after, math.ceil(self.log.seconds_to_next_write()))
            raise NotAccepted(f"the inference log is full or closing: {len(ids)} labels not kept, retry later", wait)
        if traffic != store.TEST:
            self.hooks.on_feedback(len(ids))
        return FeedbackResponse(accepted=len(ids))


def make_log(config: ServiceConfig, hooks: Hooks) -> LogWriter | None:
    """The inference log of a stored model, or None when $MONITOR_STORE is "off"; ProjectError when it would
    hash without $MONITOR_HASH_KEY."""
    root = store_root(config.monitor_store)
    if root is None:
        return None
    limits = config.serve
    key = hash_key(limits.log_hash_columns, limits.log_hash_id)
    spill = spill_folder()
    logger.info("inference log: %s (spilled at shutdown to %s)", root, spill or "nowhere: $MONITOR_SPOOL is not set")
    return LogWriter(
        root,
        config.features,
        config.version,
        config.classes,
        drop=limits.log_drop_columns,
        hashed=limits.log_hash_columns,
        hash_id=limits.log_hash_id,
        key=key,
        max_rows=limits.log_buffer_rows,
        flush_seconds=limits.log_flush_seconds,
        part_rows=limits.log_part_rows,
        spill=spill,
        on_dropped=hooks.on_dropped,
        on_write_failed=hooks.on_write_failed,
        on_backlog=hooks.on_backlog,
    )


def packaged_card(folder: Path) -> dict[str, Any] | None:
    """The model card packaged with the stored model in `folder` (None: none was), checked against its bytes."""
    return read_card(
        folder / CARD_FILE_NAME,
        (folder / MODEL_FILE_NAME).read_bytes(),
        "the packaged model card",
        "run `make pipeline`, then `make package`",
    )


class ModelCardRoute:
    """GET /model-card: the packaged model card (404 when none was packaged), ahead of BentoML's routes."""

    def __init__(self, app: Any, card: Callable[[], dict[str, Any] | None]) -> None:
        self.app = app
        self.card = card

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """Answer GET /model-card; pass every other request on."""
        if scope["type"] != "http" or scope["path"] != "/model-card":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            response = JSONResponse({"error": "GET /model-card"}, status_code=405, headers={"Allow": "GET"})
        elif (card := self.card()) is None:
            text = "no model card was packaged with this model: `make pipeline` writes it, `make package` packs it"
            response = JSONResponse({"error": text}, status_code=404)
        else:
            response = JSONResponse(card)
        await response(scope, receive, send)


class ModelService:
    """The service of one stored model: its runner, batcher, inference log and bookkeeping. `make_service` makes a
    subclass for the model (its config, hooks and BentoML's API); BentoML makes the instance in each worker."""

    service_config: ClassVar[ServiceConfig]
    service_hooks: ClassVar[Hooks | None] = None  # None: the model's Prometheus metrics
    bento_model: ClassVar[Any]  # the bentoml.models.BentoModel of service_config.version

    def __init__(self) -> None:
        config = self.service_config
        self.folder = Path(self.bento_model.path)
        packaged_card(self.folder)  # a worker that started anyway refuses a card of other bytes
        self.runner = ModelRunner(joblib.load(self.folder / MODEL_FILE_NAME), config.features)
        self.model_version = config.version
        metrics = model_metrics(config, os.environ.get(METRICS_ENV))
        counts = self.service_hooks or Hooks(
            on_predicted=metrics.observe,
            on_unknown=metrics.unknown_categories,
            on_feedback=metrics.feedback_received,
            on_dropped=metrics.log_dropped,
            on_write_failed=metrics.log_write_failed,
            on_backlog=metrics.log_backlog,
        )
        limits = config.serve
        self.log = make_log(config, counts)
        has_id = config.id_column is not None
        self.book = Bookkeeper(config.features, has_id, self.log, counts, limits.retry_after_seconds)
        self.batcher = AdaptiveBatcher(
            self.book.predict_and_log(self.runner),
            limits.max_batch_rows,
            limits.max_queue_rows,
            limits.max_wait_seconds,
            suspects=self.runner.suspects,
        )
        self.explaining = OneAtATime(limits.max_queue_rows, limits.max_wait_seconds)
        # What is loaded now lives as long as the process: frozen, full collections stop pausing requests (p99 -55%).
        gc.collect()
        gc.freeze()
        http_log = logging.getLogger("bentoml._internal.server.http_app")  # where BentoML logs them
        if not any(isinstance(f, ClientErrorFilter) for f in http_log.filters):
            http_log.addFilter(ClientErrorFilter())

    def __is_ready__(self) -> bool:
        return getattr(self, "runner", None) is not None

    async def flush_log(self) -> None:
        """On SIGTERM, after the last request is answered: every logged row goes to the store."""
        await asyncio.to_thread(self.book.close)

    async def predict_records(
        self,
        records: Sequence[BaseModel],
        gone: Callable[[], Awaitable[Any]] | None = None,
        traffic: str = store.LIVE,
    ) -> PredictResponse:
        """The answer for validated records (the API's work, without HTTP); the batcher's errors pass on."""
        rows, ids = self.book.rows_and_ids(records)
        unknown = self.book.find_unknown(rows)
        outputs = await self.batcher.submit(rows, self.book.logged(ids, unknown, traffic), gone=gone)
        return self.book.answer(rows, ids, unknown, outputs, self.model_version, traffic)

    async def predict(self, records: list[BaseModel], ctx: bentoml.Context) -> PredictResponse | JSONResponse:
        """Predict a batch of records; each record holds every feature of schema.yaml (and may hold its id)."""
        try:
            gone = functools.partial(disconnected, ctx.request.receive)
            return await self.predict_records(records, gone, traffic_of(ctx.request.headers))
        except Overloaded as exc:
            logger.warning("POST /predict: 503, %s", exc)
            return refuse(ctx, 503, f"overloaded, retry later: {exc}", self.service_config.serve.retry_after_seconds)
        except ClientGone as exc:  # nobody reads the answer; /metrics counts it
            return refuse(ctx, 499, str(exc))
        except ValueError as exc:  # the model refused these rows alone (other requests were predicted)
            logger.warning("POST /predict: 422, %d record(s) the model cannot predict: %s", len(records), exc)
            return refuse(ctx, 422, f"the model cannot predict these records: {exc}")

    @functools.cached_property
    def explainer(self) -> Explainer:
        """The model's explainer, made at the first /explain (a tree model's imports shap: 2 s); NotExplainable."""
        packaged = self.folder / EXPLAIN_FILE_NAME
        means = io.read_json(packaged)["reference"] if packaged.is_file() else None
        return Explainer(self.runner.model, self.runner.columns, means)

    def explain_records(self, records: Sequence[BaseModel]) -> ExplainResponse:
        """The explanation of validated records (the API's work, without HTTP): NotExplainable, or a ValueError when
        the model cannot take their values. Nothing goes to the inference log nor to the counts."""
        rows, ids = self.book.rows_and_ids(records)
        explained = self.explainer.explain(self.runner.frame(rows))
        names = self.runner.columns
        return ExplainResponse(
            base_value=explained.base_values.tolist(),
            contributions=[dict(zip(names, row, strict=True)) for row in explained.contributions.tolist()],
            classes=explained.classes,
            ids=ids,
            model_version=self.model_version,
        )

    async def explain(self, records: list[BaseModel], ctx: bentoml.Context) -> ExplainResponse | JSONResponse:
        """Each record's per-feature contributions to the model's raw output, additive to it (same body as /predict;
        computed outside the event loop, one request at a time under the queue's limits, not logged: X-Traffic
        changes nothing)."""
        try:
            explained: ExplainResponse = await self.explaining.run(
                len(records), functools.partial(self.explain_records, records)
            )
            return explained
        except Overloaded as exc:
            logger.warning("POST /explain: 503, %s", exc)
            return refuse(ctx, 503, f"overloaded, retry later: {exc}", self.service_config.serve.retry_after_seconds)
        except NotExplainable as exc:
            return refuse(ctx, 501, f"this model cannot be explained: {exc}")
        except ValueError as exc:
            logger.warning("POST /explain: 422, %d record(s) the model cannot take: %s", len(records), exc)
            return refuse(ctx, 422, f"the model cannot explain these records: {exc}")

    async def feedback(self, feedback: list[BaseModel], ctx: bentoml.Context) -> FeedbackResponse | JSONResponse:
        """Ground-truth labels by record id, for the monitoring store (joined with the predictions later); 503 with
        Retry-After when they cannot be kept now."""
        try:
            return self.book.labels(feedback, traffic_of(ctx.request.headers))
        except NotAccepted as exc:
            logger.warning("POST /feedback: 503, %s", exc)
            return refuse(ctx, 503, str(exc), exc.retry_after)


def bento_model_tag(module_file: Path = Path(__file__)) -> str | None:
    """Inside a built bento (<bento>/src/<package>/serving/service.py), the model tag that bento was built with."""
    bento_yaml = module_file.resolve().parents[3] / "bento.yaml"
    if not bento_yaml.is_file():
        return None
    for service in io.read_yaml(bento_yaml).get("services", []):
        for model in service.get("models", []):
            if str(model.get("tag", "")).startswith(f"{MODEL_NAME}:"):
                return str(model["tag"])
    return None


def make_service(tag: str | None = None, hooks: Hooks | None = None) -> Any:
    """The BentoML service for a stored model: `tag`, else $SERVICE_MODEL_TAG, else the model a built bento pins,
    else the latest packaged one. `hooks` receive the service's counts (default: the model's Prometheus metrics)."""
    cancel_request_timers()  # BentoML's per-request timers, left alive for a minute (bentoml_fixes.py)
    tag = tag or os.environ.get(MODEL_TAG_ENV) or bento_model_tag() or f"{MODEL_NAME}:latest"
    config = ServiceConfig.from_stored(tag)
    limits = config.serve
    record = record_model(config.features, limits.value_bound_factor, limits.max_string_length, config.id_column)
    label = feedback_model(config.classes, limits.max_string_length)

    def refuse_to_hash_without_a_key() -> None:
        """`bentoml serve` runs it once, before any worker starts (`bentoml build`, which needs no key, never
        does): a log that would hash without $MONITOR_HASH_KEY stops the server with one line, exit code 2."""
        if store_root(config.monitor_store) is None:
            return
        try:
            hash_key(limits.log_hash_columns, limits.log_hash_id)
        except ProjectError as exc:
            print(f"service: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    @functools.cache
    def card() -> dict[str, Any] | None:
        return packaged_card(Path(bentoml.models.get(config.version).path))

    def refuse_a_card_of_other_bytes() -> None:
        """`bentoml serve` runs it once, before any worker starts: a packaged model card whose sha256 is not the
        model's stops the server with one line, exit code 2."""
        try:
            card()
        except ProjectError as exc:
            print(f"service: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    # A class for this model, because BentoML's API takes one: @bentoml.service reads the API methods (their request
    # bodies are this model's records) and the model `bentoml build` pins from the class's attributes.
    # /predict skips tracing, whose middleware builds a span per request even unsampled (+35% req/s measured).
    # Drop `tracing` when you configure an exporter. The access log is off too; /metrics counts requests.
    @bentoml.service(
        name=MODEL_NAME,
        workers=1,
        logging={"access": {"enabled": False}},
        tracing={"excluded_urls": ["/predict"]},
    )
    class Predictor(ModelService):
        """Predicts records with the packaged model; /livez, /readyz and /metrics come from BentoML."""

        service_config = config
        service_hooks = hooks
        bento_model = bentoml.models.BentoModel(config.version)  # pinned by `bentoml build` (export/containerize)
        predict = bentoml.api(input_spec=predict_input(record, limits.max_records), output_spec=PredictResponse)(
            ModelService.predict
        )
        explain = bentoml.api(input_spec=predict_input(record, limits.max_records), output_spec=ExplainResponse)(
            ModelService.explain
        )
        feedback = bentoml.api(input_spec=feedback_input(label, limits.max_records), output_spec=FeedbackResponse)(
            ModelService.feedback
        )
        flush_log = bentoml.on_shutdown(ModelService.flush_log)
        check_hash_key = bentoml.on_deployment(refuse_to_hash_without_a_key)
        check_model_card = bentoml.on_deployment(refuse_a_card_of_other_bytes)

    # @bentoml.service made the class a Service; mypy still sees the plain class.
    cast(Any, Predictor).add_asgi_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    cast(Any, Predictor).add_asgi_middleware(ModelCardRoute, card=card)
    return Predictor


def __getattr__(name: str) -> Any:
    """`bentoml serve <package>.serving.service:Predictor` and `bentoml build` find the service here."""
    if name == "Predictor":
        service = make_service()
        globals()["Predictor"] = service
        return service
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
