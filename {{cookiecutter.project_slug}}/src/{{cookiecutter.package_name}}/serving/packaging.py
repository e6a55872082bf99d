"""The `package` and `serve` commands: put the trained model into the BentoML model store, start the server.

`package` stores models/model.joblib as <package>:<hash of the model and its settings>, with the request
fields of schema.yaml (kinds, categories, numeric ranges), the id column, the classes, the serve limits,
the monitoring store, the metrics and the holdout's prediction distribution (the baseline of the
prediction-shift alert) as metadata (service.py reads them: a bento never reads params.yaml) and labels
that trace it back (the md5 dvc.lock records, the git commit).
BentoML is imported only after BENTOML_HOME is chosen: the project's bentoml/ folder unless the variable
is set.
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

from .. import io
from ..contract import ColumnSpec, load_contract
from ..errors import ProjectError
from ..params import METRICS_FILE, MODEL_FILE, SCHEMA_FILE, SMOKE_FILE, TEST_DATA, load_params
from .log_writer import OFF, STORE_ENV
from .prometheus import prediction_reference
from .service import MODEL_FILE_NAME, MODEL_NAME
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


def package_metadata(
    model: Any, features: list[dict[str, Any]], params: Any, id_column: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the service needs besides the model: the request fields, the task, the serve limits, the store."""
    trained_on = [str(name) for name in getattr(model, "feature_names_in_", [])]
    names = [spec["name"] for spec in features]
    if trained_on and sorted(trained_on) != sorted(names):
        raise ProjectError(
            f"schema.yaml's features {sorted(names)} are not the model's {sorted(trained_on)}: "
            "run the pipeline (make pipeline) after changing the data or the schema"
        )
    for key in ("log_drop_columns", "log_hash_columns"):
        unknown = [name for name in getattr(params.serve, key) if name not in names]
        if unknown:
            raise ProjectError(f"serve.{key} lists {', '.join(unknown)}, not features of schema.yaml: {names}")
    metadata = {
        "task": params.task,
        "target": params.data.target,
        "features": features,
        "serve": params.serve.model_dump(mode="json", exclude={"smoke_rows"}),
        "monitor": {"store": params.monitor.store},
        "metrics": io.read_json(METRICS_FILE) if METRICS_FILE.is_file() else {},
    }
    if id_column is not None:
        metadata["id_column"] = id_column
    if hasattr(model, "classes_"):
        metadata["classes"] = np.asarray(model.classes_).tolist()
    return metadata


def feature_metadata(spec: ColumnSpec) -> dict[str, Any]:
    """One request field for the service: name, kind, nullable, and the contract's categories or range.

    Plain YAML types only (the store rejects None and tuples): a key only where the contract has it.
    """
    feature: dict[str, Any] = {"name": spec.name, "kind": spec.kind, "nullable": spec.nullable}
    if spec.categories:
        feature["categories"] = list(spec.categories)
    if spec.minimum is not None and spec.maximum is not None:
        feature["minimum"], feature["maximum"] = float(spec.minimum), float(spec.maximum)
    return feature


def id_metadata(contract: Any, id_column: str | None) -> dict[str, Any] | None:
    """data.id_column as a request field: {"name", "kind"} (no kind when schema.yaml does not list the column)."""
    if not id_column:
        return None
    if id_column not in contract.names:
        return {"name": id_column}
    return {"name": id_column, "kind": contract.column(id_column).kind}


def package_command(args: argparse.Namespace) -> int:
    """`package`: store models/model.joblib in the BentoML model store as <package>:<content hash>."""
    params = load_params(estimator=False)
    home = use_project_store()
    model = io.load_model(MODEL_FILE)
    contract = load_contract(SCHEMA_FILE)
    features = [feature_metadata(spec) for spec in contract.feature_specs(params.data.id_column)]
    metadata = package_metadata(model, features, params, id_metadata(contract, params.data.id_column))
    model_bytes = MODEL_FILE.read_bytes()
    identity = {key: metadata[key] for key in ("features", "id_column", "serve") if key in metadata}
    version = hashlib.sha256(model_bytes + json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    tag = f"{MODEL_NAME}:{version}"
    labels = {
        # the hash dvc.lock records for the model
        "model_md5": hashlib.md5(model_bytes, usedforsecurity=False).hexdigest(),
        "git_commit": _git_commit(),
        "task": params.task,
        "estimator": params.train.estimator,
    }
    import bentoml
    from bentoml.exceptions import NotFound

    with contextlib.suppress(NotFound):
        bentoml.models.delete(tag)  # re-created, so that it is the latest: what `serve` and `build` take
    holdout = io.read_table(TEST_DATA)
    smoke = smoke_set(model, holdout, features, tag, params.serve.smoke_rows)
    # The holdout's predictions: the baseline of the prediction-shift alert (prometheus.py, deploy/monitoring).
    holdout_predictions = model.predict(holdout[[spec["name"] for spec in features]]) if len(holdout) else []
    metadata["prediction_reference"] = prediction_reference(holdout_predictions, metadata.get("classes"))
    with bentoml.models.create(tag, labels=labels, metadata=metadata) as stored:
        shutil.copyfile(MODEL_FILE, Path(stored.path) / MODEL_FILE_NAME)
        io.write_json(smoke, Path(stored.path) / SMOKE_FILE.name)  # travels with the model into the bento
    io.write_json(smoke, SMOKE_FILE)
    print(
        f"package: {MODEL_FILE} -> model {tag} in {home}/models ({len(features)} features, {params.task}); "
        f"smoke set of {len(smoke['records'])} rows -> {SMOKE_FILE}"
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
