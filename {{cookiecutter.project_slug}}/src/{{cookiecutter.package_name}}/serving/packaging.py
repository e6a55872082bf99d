"""The `package` and `serve` commands: put the trained model into the BentoML model store, start the server.

`package` stores models/model.joblib as <package>:<hash of the model and its settings>, with the request
fields of schema.yaml (kinds, categories, numeric ranges), the serve limits, the metrics and the holdout's
prediction distribution (the baseline of the prediction-shift alert) as metadata
(service.py reads them) and labels that trace it back (the md5 dvc.lock records, the git commit).
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
from ..errors import ProjectError
from ..params import METRICS_FILE, MODEL_FILE, SCHEMA_FILE, SMOKE_FILE, TEST_DATA, load_params
from ..pipeline.contract import ColumnSpec, load_contract
from .metrics import prediction_reference
from .service import LOG_DIR_ENV, MODEL_FILE_NAME, MODEL_NAME
from .smoke_set import smoke_set

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


def package_metadata(model: Any, features: list[dict[str, Any]], params: Any) -> dict[str, Any]:
    """What the service needs besides the model: the request fields, the task, the serve limits."""
    trained_on = [str(name) for name in getattr(model, "feature_names_in_", [])]
    names = [spec["name"] for spec in features]
    if trained_on and sorted(trained_on) != sorted(names):
        raise ProjectError(
            f"schema.yaml's features {sorted(names)} are not the model's {sorted(trained_on)}: "
            "run the pipeline (make pipeline) after changing the data or the schema"
        )
    metadata = {
        "task": params.task,
        "target": params.data.target,
        "features": features,
        "serve": params.serve.model_dump(exclude={"log_dir", "smoke_rows"}),
        "metrics": io.read_json(METRICS_FILE) if METRICS_FILE.is_file() else {},
    }
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


def package_command(args: argparse.Namespace) -> int:
    """`package`: store models/model.joblib in the BentoML model store as <package>:<content hash>."""
    params = load_params()
    home = use_project_store()
    model = io.load_model(MODEL_FILE)
    contract = load_contract(SCHEMA_FILE)
    features = [feature_metadata(spec) for spec in contract.feature_specs(params.data.id_column)]
    metadata = package_metadata(model, features, params)
    model_bytes = MODEL_FILE.read_bytes()
    identity = json.dumps({"features": features, "serve": metadata["serve"]}, sort_keys=True).encode()
    version = hashlib.sha256(model_bytes + identity).hexdigest()[:16]
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
    # The holdout's predictions: the baseline of the prediction-shift alert (metrics.py, deploy/monitoring).
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
    params = load_params()
    use_project_store()
    log_dir = params.serve.log_dir
    os.environ[LOG_DIR_ENV] = str(Path(log_dir).resolve()) if log_dir else ""
    if args.bento:
        target = args.bento if ":" in args.bento else f"{MODEL_NAME}:{args.bento}"
    else:
        target = f"{MODEL_NAME}.serving.service:Predictor"
    command = [sys.executable, "-m", "bentoml", "serve", target, "--host", args.host, "--port", str(args.port)]
    print(f"serve: {target} on http://{args.host}:{args.port} (log: {log_dir or 'off'})", flush=True)
    os.execv(sys.executable, command)  # the server takes this process (and its PID) over
    return 0  # not reached
