"""The `package`, `serve` and `example` commands: put the trained model into the BentoML model store, start the
server, print a request.

`package` stores models/model.joblib as <package>:<hash of the model and its request settings> with its
ServiceConfig as metadata (config.py: what the service reads, so a bento never reads params.yaml), the smoke set
(smoke_set.py) beside it, and labels that trace it back (the md5 dvc.lock records, the git commit, the estimator).
BentoML is imported only after BENTOML_HOME is chosen: the project's bentoml/ folder unless the variable is set.
"""

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import io
from ..contract import ColumnSpec, Contract, load_contract
from ..errors import ProjectError
from ..params import (
    METRICS_FILE,
    MODEL_CARD_FILE,
    MODEL_FILE,
    SCHEMA_FILE,
    SMOKE_FILE,
    TEST_DATA,
    TRAIN_DATA,
    Params,
    load_params,
)
from ..records import IdColumn, served_version
from .config import (
    CARD_FILE_NAME,
    ESTIMATOR_LABEL,
    EXPLAIN_FILE_NAME,
    MODEL_FILE_NAME,
    MODEL_NAME,
    ServiceConfig,
    read_card,
)
from .explain import reference
from .log_writer import OFF, STORE_ENV
from .prometheus import prediction_reference
from .smoke_set import request_records, smoke_set

PROJECT_STORE = Path("bentoml")  # BENTOML_HOME unless set: the store stays inside the project


def use_project_store() -> Path:
    """Point BENTOML_HOME at the project's bentoml/ unless it is set; return it."""
    home = os.environ.setdefault("BENTOML_HOME", str(PROJECT_STORE.resolve()))
    os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
    return Path(home)


def _git_commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return result.stdout.strip() or "unknown"


def request_fields(model: Any, contract: Contract, params: Params) -> tuple[ColumnSpec, ...]:
    """schema.yaml's features, the model's request fields; ProjectError when they are not the model's, or when
    serve.log_drop_columns or serve.log_hash_columns name another column."""
    features = contract.feature_specs(params.data.id_column)
    names = [spec.name for spec in features]
    trained_on = [str(name) for name in getattr(model, "feature_names_in_", [])]
    if trained_on and sorted(trained_on) != sorted(names):
        raise ProjectError(
            f"schema.yaml's features {sorted(names)} are not the model's {sorted(trained_on)}: "
            "run the pipeline (make pipeline) after changing the data or the schema"
        )
    for key in ("log_drop_columns", "log_hash_columns"):
        unknown = [name for name in getattr(params.serve, key) if name not in names]
        if unknown:
            raise ProjectError(f"serve.{key} lists {', '.join(unknown)}, not features of schema.yaml: {names}")
    return features


def service_config(
    model: Any, model_bytes: bytes, contract: Contract, params: Params, holdout: pd.DataFrame
) -> ServiceConfig:
    """What the service needs besides the model (config.py), the model's version included (a hash of its bytes and
    of what types its requests); the holdout's predictions are the baseline of the prediction-shift alert, whose
    regression buckets cut the target's range in the contract (they do not move with a retrain)."""
    features = request_fields(model, contract, params)
    id_column = IdColumn.of(contract, params.data.id_column)
    classes = tuple(np.asarray(model.classes_).tolist()) if hasattr(model, "classes_") else None
    predictions = model.predict(holdout[[spec.name for spec in features]]) if len(holdout) else []
    target_spec = contract.column(params.data.target) if params.data.target in contract.names else None
    return ServiceConfig(
        version=served_version(model_bytes, contract, params),
        estimator=params.train.estimator,
        task=params.task,
        target=params.data.target,
        features=features,
        serve=params.serve,
        monitor_store=params.monitor.store,
        id_column=id_column,
        classes=classes,
        metrics=io.read_json(METRICS_FILE) if METRICS_FILE.is_file() else {},
        prediction_reference=prediction_reference(predictions, classes, target_spec),
    )


def package_command(args: argparse.Namespace) -> int:
    """`package`: store models/model.joblib in the BentoML model store as <package>:<content hash>."""
    params = load_params(estimator=False)
    home = use_project_store()
    model = io.load_model(MODEL_FILE)
    model_bytes = MODEL_FILE.read_bytes()
    holdout = io.read_table(TEST_DATA)
    config = service_config(model, model_bytes, load_contract(SCHEMA_FILE), params, holdout)
    card = read_card(MODEL_CARD_FILE, model_bytes, str(MODEL_CARD_FILE), "run `make pipeline`")
    labels = {
        # the hash dvc.lock records for the model
        "model_md5": hashlib.md5(model_bytes, usedforsecurity=False).hexdigest(),
        "git_commit": _git_commit(),
        "task": params.task,
        ESTIMATOR_LABEL: config.estimator,
    }
    import bentoml
    from bentoml.exceptions import NotFound

    with contextlib.suppress(NotFound):
        bentoml.models.delete(config.version)  # re-created, so that it is the latest: what `serve` and `build` take
    smoke = smoke_set(model, holdout, config.features, config.version, params.serve.smoke_rows)
    names = [spec.name for spec in config.features]
    point = reference(model, io.read_table(TRAIN_DATA)[names]) if TRAIN_DATA.is_file() else None
    with bentoml.models.create(config.version, labels=labels, metadata=config.to_metadata()) as stored:
        shutil.copyfile(MODEL_FILE, Path(stored.path) / MODEL_FILE_NAME)
        io.write_json(smoke, Path(stored.path) / SMOKE_FILE.name)  # travels with the model into the bento
        if card is not None:  # served at GET /model-card
            io.write_json(card, Path(stored.path) / CARD_FILE_NAME)
        if point is not None:  # POST /explain's reference point of a linear model: the training rows' mean
            io.write_json({"reference": point}, Path(stored.path) / EXPLAIN_FILE_NAME)
    io.write_json(smoke, SMOKE_FILE)
    print(
        f"package: {MODEL_FILE} -> model {config.version} in {home}/models ({len(config.features)} features, "
        f"{params.task}); smoke set of {len(smoke['records'])} rows -> {SMOKE_FILE}; "
        + (f"model card {MODEL_CARD_FILE} packed" if card else f"no {MODEL_CARD_FILE} (make pipeline writes it)")
    )
    return 0


def serve_command(args: argparse.Namespace) -> int:
    """`serve`: run `bentoml serve` on the working tree's service, or on a built bento with --bento."""
    params = load_params(estimator=False)
    use_project_store()
    # The working tree's monitor.store, a local folder made absolute (the server's working directory may
    # differ); $MONITOR_STORE, when set, wins (MONITOR_STORE=off: no log).
    store = os.environ.get(STORE_ENV) or params.monitor.store
    if store != OFF and "://" not in store:
        store = str(Path(store).resolve())
    os.environ[STORE_ENV] = store
    if args.bento:
        target = args.bento if ":" in args.bento else f"{MODEL_NAME}:{args.bento}"
    else:
        target = f"{MODEL_NAME}.serving.service:Predictor"
    command = [sys.executable, "-m", "bentoml", "serve", target, "--host", args.host, "--port", str(args.port)]
    print(f"serve: {target} on http://{args.host}:{args.port} (inference log: {store})", flush=True)
    os.execv(sys.executable, command)  # the server takes this process (and its PID) over
    return 0  # not reached


def example_command(args: argparse.Namespace) -> int:
    """`example`: a POST /predict body of real holdout rows (with their ids when data.id_column is set), as JSON."""
    params = load_params(estimator=False)
    if not TEST_DATA.is_file():
        raise ProjectError(f"{TEST_DATA} not found: the example rows come from the test split; run `make pipeline`")
    contract = load_contract(SCHEMA_FILE)
    names = [spec.name for spec in contract.feature_specs(params.data.id_column)]
    holdout = io.read_table(TEST_DATA).head(args.rows)
    id_column = params.data.id_column
    fields = [id_column, *names] if id_column and id_column in holdout.columns else names
    print(json.dumps({"records": request_records(holdout, fields)}, indent=2, ensure_ascii=False))
    return 0
