"""The model card (`card`, a pipeline stage): reports/model_card.json and .md; the ML-BOM, reports/model_bom.cdx.json.

A card belongs to one model's bytes: `model.sha256` is the sha256 of models/model.joblib, and `check_model` refuses a
model file whose bytes differ (the service's check). It holds the model (estimator, params, package versions, the
params' hash; the commit and the GTO version are filled in when a card is read at a commit: `card_at`, `load_card`),
what the team says of its use (params.yaml model_card:, "unknown" where unfilled), the data's lineage
(source, md5s as dvc.lock records them, rows per split, the contract's hash, the time range), the metrics of
metrics.json with bootstrap intervals, the slice metrics (slices.py) and the permutation importance that `evaluate`
measured. `headline` compares two cards for the pull-request comment (compare.md).
The ML-BOM is CycloneDX 1.6 with the `modelCard` fields (the template's tests validate it against the schema).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .. import io
from ..columns import feature_columns
from ..contract import Contract, load_contract
from ..errors import ProjectError, RegistryError
from ..metrics import METRICS, Predictions, task_metrics
from ..params import (
    IMPORTANCE_FILE,
    METRICS_FILE,
    MODEL_BOM_FILE,
    MODEL_CARD_FILE,
    MODEL_CARD_REPORT,
    MODEL_FILE,
    PLOTS_DIR,
    RAW_DATA,
    SCHEMA_FILE,
    TEST_DATA,
    TRAIN_DATA,
    UNKNOWN,
    Params,
    load_params,
)
from ..registry import LOCK_FILE, file_digest, git
from .policy import SlicePolicy
from .scoring import bootstrap_scores, interval
from .slices import make_slices, slice_columns, slice_metrics

CARD_VERSION = 1
PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "joblib")  # what the model's bytes need to load and predict
TOP_FEATURES = 5


# --- reading a card: the service's check and the gate's champion --------------------------------------------


def load_card(path: Path = MODEL_CARD_FILE, cwd: Path | str = ".") -> dict[str, Any]:
    """A model card (reports/model_card.json); ProjectError when it is missing or not a card. When the file is as
    HEAD records it, `model.git_commit` is the commit that last wrote it (the model's commit)."""
    card = io.read_json(Path(cwd, path))
    if not isinstance(card, dict) or not isinstance(card.get("model"), dict) or "sha256" not in card["model"]:
        raise ProjectError(f"{path} is not a model card (no model.sha256): run `make pipeline`")
    try:
        if not git("status", "--porcelain", "--", path.as_posix(), cwd=cwd):
            card["model"]["git_commit"] = git("log", "-1", "--format=%H", "--", path.as_posix(), cwd=cwd) or None
    except RegistryError:
        pass  # not a git repository: no commit to name
    return card


def check_model(card: dict[str, Any], model_path: Path = MODEL_FILE) -> str:
    """The sha256 of `model_path` when it is the model the card describes; ProjectError otherwise."""
    found = file_digest(model_path, "sha256")
    expected = card["model"]["sha256"]
    if found != expected:
        raise ProjectError(
            f"{model_path} (sha256 {found[:12]}) is not the model its card describes (sha256 {expected[:12]}): "
            "run `make pipeline` to write the card of this model"
        )
    return found


def card_at(commit: str, version: str | None = None, cwd: Path | str = ".") -> dict[str, Any] | None:
    """The model card a commit recorded (git show), with its GTO `version` filled in; None when it has none."""
    try:
        card = json.loads(git("show", f"{commit}:{MODEL_CARD_FILE.as_posix()}", cwd=cwd))
    except (RegistryError, ValueError):
        return None
    if not isinstance(card, dict) or not isinstance(card.get("model"), dict):
        return None
    card["model"]["git_commit"] = commit
    if version is not None:
        card["model"]["version"] = version
    return card


# --- writing one ------------------------------------------------------------------------------------------------


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _versions() -> dict[str, str]:
    found = {"python": ".".join(platform.python_version_tuple()[:2])}  # the patch release varies by machine
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = UNKNOWN
    return found


def model_section(params: Params, model: Any, path: Path = MODEL_FILE) -> dict[str, Any]:
    """What the model is: its bytes' hashes, estimator, arguments, packages, commit and params' hash."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    trained_by = params.model_dump(mode="json", include={"seed", "task", "data", "split", "train"})
    return {
        "path": path.as_posix(),
        "sha256": file_digest(path, "sha256"),
        "md5": file_digest(path),
        "size_bytes": path.stat().st_size,
        "task": params.task,
        "estimator": params.train.estimator,
        "estimator_class": f"{type(final).__module__}.{type(final).__qualname__}",
        "params": params.train.params,
        "packages": _versions(),
        # What made these bytes (seed, task, data, split, train), as canonical JSON: equal hashes, equal settings.
        "params_sha256": _sha256_text(json.dumps(trained_by, sort_keys=True)),
        # The commit that records this card and the GTO version of its model: neither is known when the pipeline
        # writes it (a file cannot hold the hash of the commit that holds it, and CI's `dvc repro --force` must
        # rewrite it byte for byte). They are filled in when a card is read at a commit (card_at, load_card).
        "git_commit": None,
        "version": None,
    }


def intended_use(params: Params) -> dict[str, Any]:
    """params.yaml model_card: as the team filled it in; "unknown" for every field it did not."""
    given = params.model_card.model_dump(mode="json", exclude={"time_column"})
    return {key: (value if value not in ((), [], "", None) else UNKNOWN) for key, value in given.items()}


def _locked_source() -> dict[str, str] | str:
    """The md5 of each input of the ingest stage (the source, production rows) as dvc.lock records them."""
    try:
        lock = io.parse_yaml(Path(LOCK_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return UNKNOWN
    deps = ((lock.get("stages") or {}).get("ingest") or {}).get("deps") or []
    found = {d["path"]: d["md5"] for d in deps if d.get("md5") and not str(d["path"]).startswith("src/")}
    return found or UNKNOWN


def _time_range(frame: pd.DataFrame, column: str | None) -> list[str] | None:
    if not column or column not in frame.columns or frame[column].notna().sum() == 0:
        return None
    values = frame[column].dropna()
    return [str(values.min()), str(values.max())]


def data_section(params: Params, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """The training data's lineage: source, md5s (what dvc.lock records for them), rows, the contract's hash."""
    column = params.model_card.time_column
    return {
        "source": params.data.source,
        "lineage": params.data.lineage,
        "target": params.data.target,
        "id_column": params.data.id_column,
        "source_md5": _locked_source(),
        "md5": {path.as_posix(): file_digest(path) for path in (RAW_DATA, TRAIN_DATA, TEST_DATA) if path.is_file()},
        "rows": {"train": len(train), "test": len(test)},
        "features": feature_columns(test.columns, params.data.target, params.data.id_column),
        "contract_sha256": file_digest(SCHEMA_FILE, "sha256") if SCHEMA_FILE.is_file() else UNKNOWN,
        "time_range": None
        if column is None
        else {"column": column, "train": _time_range(train, column), "test": _time_range(test, column)},
    }


def metrics_section(
    predictions: Predictions, reported: dict[str, Any], bootstrap: int, confidence: float, seed: int
) -> dict[str, Any]:
    """metrics.json's values, each with its bootstrap interval on the test split."""
    draws = bootstrap_scores(predictions, bootstrap, seed)
    values = {}
    for name in task_metrics(predictions.task):
        if name not in reported:
            continue  # undefined on this split (metrics.json leaves it out)
        low, high = interval(draws[name], confidence)
        values[name] = {"value": reported[name], "low": round(low, 6), "high": round(high, 6)}
    return {"test_rows": reported.get("test_rows"), "confidence": confidence, "bootstrap": bootstrap, "values": values}


def importance_section(path: Path = IMPORTANCE_FILE) -> dict[str, Any]:
    """The permutation importance `evaluate` measured (reports/plots/feature_importance.csv)."""
    if not path.is_file():
        return {"features": [], "note": f"{path} not found: run `make pipeline`"}
    table = io.read_table(path)
    rows = int(table["rows"].iloc[0]) if len(table) else 0
    return {
        "metric": str(table["metric"].iloc[0]) if len(table) else None,
        "method": "permutation importance (sklearn.inspection), the loss of the metric when a feature is shuffled",
        "repeats": int(table["repeats"].iloc[0]) if len(table) else 0,
        "rows": rows,
        "note": "measured on a seeded sample of the test split" if rows and rows < _test_rows() else "",
        "features": [
            {
                key: (str(row[key]) if key == "feature" else float(row[key]))
                for key in ("feature", "importance", "low", "high")
            }
            for _, row in table.iterrows()
        ],
        "plot": (path.parent / "feature_importance.png").as_posix(),
    }


def _test_rows() -> int:
    try:
        return int(io.read_json(METRICS_FILE).get("test_rows", 0))
    except (ProjectError, AttributeError):
        return 0


def slices_section(
    params: Params, predictions: Predictions, test: pd.DataFrame, contract: Contract | None
) -> dict[str, Any]:
    """The metrics on each slice of the test split (gate.slices), with n; small ones marked too small to judge."""
    policy = SlicePolicy.of(params.gate.slices)
    columns = slice_columns(test, policy, params.data.target, params.data.id_column, contract)
    found = make_slices(test, columns, policy, contract)
    return {
        "metric": params.gate_metric,
        "columns": columns,
        "min_rows": policy.min_rows,
        "note": ""
        if columns
        else "no slice columns: the data has no categorical feature with at most "
        f"{policy.max_values} values; name columns in gate.slices.columns (numeric ones are binned)",
        "results": slice_metrics(predictions, found, policy.min_rows),
    }


def build_card(params: Params, model: Any, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """The whole model card of the workspace's model (reports/model_card.json)."""
    try:
        contract: Contract | None = load_contract()
    except ProjectError:
        contract = None
    features = test[feature_columns(test.columns, params.data.target, params.data.id_column)]
    predictions = Predictions.from_model(model, features, test[params.data.target], params.task)
    reported = io.read_json(METRICS_FILE)
    return {
        "card_version": CARD_VERSION,
        "model": model_section(params, model),
        "intended_use": intended_use(params),
        "data": data_section(params, train, test),
        "metrics": metrics_section(predictions, reported, params.gate.bootstrap, params.gate.confidence, params.seed),
        "slices": slices_section(params, predictions, test, contract),
        "feature_importance": importance_section(),
        "plots": sorted(path.as_posix() for path in PLOTS_DIR.glob("*.png")),
    }


# --- its Markdown and its ML-BOM -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    return str(value)


def _number(value: Any) -> str:
    return "—" if value is None else f"{value:.4f}"


def render_card(card: dict[str, Any]) -> str:
    """reports/model_card.md: the card for a reader."""
    model, use, data, metrics = card["model"], card["intended_use"], card["data"], card["metrics"]
    lines = [
        f"# Model card: {model['estimator']} ({model['task']})",
        "",
        f"Model `{model['path']}`, sha256 `{model['sha256']}`, {model['size_bytes'] / 1024:.1f} KiB; "
        f"`{model['estimator_class']}` with {json.dumps(model['params'], sort_keys=True)}; params sha256 "
        f"`{model['params_sha256'][:12]}`. Commit: {model['git_commit'] or 'the one that records this card'}; "
        f"version: {model['version'] or 'none until promoted (GTO)'}. "
        "Packages: " + ", ".join(f"{name} {version}" for name, version in model["packages"].items()) + ".",
        "",
        "## Intended use",
        "",
        *[f"- **{key.replace('_', ' ')}**: {_text(value)}" for key, value in use.items()],
        "",
        "## Data",
        "",
        f"Source `{data['source']}` (lineage `{data['lineage']}`), target `{data['target']}`; {data['rows']['train']} "
        f"training and {data['rows']['test']} test rows; contract (schema.yaml) sha256 "
        f"`{data['contract_sha256'][:12]}`.",
        "",
        *[f"- `{path}`: md5 `{md5}`" for path, md5 in data["md5"].items()],
    ]
    if isinstance(data["source_md5"], dict):
        lines += [f"- `{path}` (ingest input): md5 `{md5}`" for path, md5 in data["source_md5"].items()]
    if data["time_range"]:
        span = data["time_range"]
        lines += ["", f"Time (`{span['column']}`): training {span['train']}, test {span['test']}."]
    confidence = f"{metrics['confidence']:.0%}"
    lines += ["", "## Metrics", "", f"On the {metrics['test_rows']} test rows, with {confidence} bootstrap intervals "]
    lines[-1] += f"({metrics['bootstrap']} resamples).\n\n| metric | value | {confidence} interval |\n|---|---:|---|"
    for name, entry in metrics["values"].items():
        lines.append(f"| {name} | {entry['value']:.4f} | [{entry['low']:.4f}, {entry['high']:.4f}] |")
    lines += ["", *_slice_lines(card["slices"]), "", *_importance_lines(card["feature_importance"])]
    if card.get("plots"):
        lines += [
            "",
            "Plots: " + " · ".join(f"[{Path(p).name}]({Path(p).relative_to('reports')})" for p in card["plots"]),
        ]
    return "\n".join(lines) + "\n"


def _slice_lines(section: dict[str, Any]) -> list[str]:
    lines = ["## Slices", ""]
    if not section["results"]:
        return [*lines, section["note"] or "No slices."]
    names = list(section["results"][0]["metrics"])
    lines += [
        f"Each slice of {', '.join(f'`{c}`' for c in section['columns'])} (and each pair: reported, not gated). Slices "
        f"under {section['min_rows']} rows are too small to judge.",
        "",
        "| slice | n | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for entry in section["results"]:
        small = " (too small to judge)" if entry["too_small"] else ""
        values = " | ".join(_number(entry["metrics"][name]) for name in names)
        lines.append(f"| {entry['column']} = {entry['value']}{small} | {entry['n']} | {values} |")
    return lines


def _importance_lines(section: dict[str, Any]) -> list[str]:
    lines = ["## Feature importance", ""]
    if not section["features"]:
        return [*lines, section.get("note") or "Not measured."]
    note = f" ({section['note']})" if section["note"] else ""
    lines += [
        f"Permutation importance: the loss of {section['metric']} when a feature's values are shuffled, mean of "
        f"{section['repeats']} shuffles on {section['rows']} test rows{note}, with a 95 % t-interval.",
        "",
        "| feature | importance | 95 % interval |",
        "|---|---:|---|",
    ]
    for entry in section["features"][:15]:
        lines.append(f"| {entry['feature']} | {entry['importance']:.4f} | [{entry['low']:.4f}, {entry['high']:.4f}] |")
    if len(section["features"]) > 15:
        lines.append(f"| … {len(section['features']) - 15} more in model_card.json | | |")
    return lines


def bom(card: dict[str, Any], name: str) -> dict[str, Any]:
    """The ML-BOM: CycloneDX 1.6, the model as a machine-learning-model component with its modelCard, the data
    splits as data components, the packages as libraries."""
    model, use, data, metrics = card["model"], card["intended_use"], card["data"], card["metrics"]
    splits = [
        {
            "type": "data",
            "bom-ref": f"data:{Path(path).stem}",
            "name": path,
            "hashes": [{"alg": "MD5", "content": md5}],
            "data": [{"type": "dataset", "name": f"{Path(path).stem} ({data['source']})"}],
        }
        for path, md5 in data["md5"].items()
    ]
    libraries = [
        {
            "type": "library",
            "bom-ref": f"pkg:pypi/{lib}@{ver}",
            "name": lib,
            "version": ver,
            "purl": f"pkg:pypi/{lib}@{ver}",
        }
        for lib, ver in model["packages"].items()
        if lib != "python" and ver != UNKNOWN
    ]
    performance = [
        {
            "type": metric,
            "value": str(entry["value"]),
            "confidenceInterval": {"lowerBound": str(entry["low"]), "upperBound": str(entry["high"])},
        }
        for metric, entry in metrics["values"].items()
    ]
    performance += [
        {"type": metric, "value": str(value), "slice": f"{entry['column']} = {entry['value']} (n={entry['n']})"}
        for entry in card["slices"]["results"]
        for metric, value in entry["metrics"].items()
        if value is not None and metric == card["slices"]["metric"]
    ]
    lists = {key: use[key] if isinstance(use[key], list) else [use[key]] for key in use}
    considerations = {
        "users": lists["users"],
        "useCases": [use["intended_use"]],
        "technicalLimitations": lists["limitations"],
        "ethicalConsiderations": [{"name": text} for text in lists["ethical_considerations"]],
    }
    component = {
        "type": "machine-learning-model",
        "bom-ref": "model",
        "name": name,
        "version": model["version"] or model["sha256"][:12],
        "hashes": [{"alg": "SHA-256", "content": model["sha256"]}, {"alg": "MD5", "content": model["md5"]}],
        "properties": [
            {"name": "params_sha256", "value": model["params_sha256"]},
            {"name": "estimator_class", "value": model["estimator_class"]},
            {"name": "contract_sha256", "value": data["contract_sha256"]},
        ],
        "modelCard": {
            "modelParameters": {
                "approach": {"type": "supervised"},
                "task": model["task"],
                "architectureFamily": model["estimator"],
                "modelArchitecture": model["estimator_class"],
                "datasets": [{"ref": split["bom-ref"]} for split in splits],
                "inputs": [{"format": "table"}],
                "outputs": [{"format": "label" if model["task"] == "classification" else "number"}],
            },
            "quantitativeAnalysis": {"performanceMetrics": performance},
            "considerations": considerations,
        },
    }
    if use["license"] != UNKNOWN:
        component["licenses"] = [{"license": {"name": use["license"]}}]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'model:' + model['sha256'])}",
        "version": 1,
        "metadata": {"component": {"type": "machine-learning-model", "bom-ref": "model-meta", "name": name}},
        "components": [component, *splits, *libraries],
        "dependencies": [{"ref": "model", "dependsOn": [c["bom-ref"] for c in (*splits, *libraries)]}],
    }


# --- the headline against the champion's card (compare.md) ----------------------------------------------------


def headline(mine: dict[str, Any] | None, theirs: dict[str, Any] | None) -> dict[str, Any]:
    """What changed from the champion's card to the challenger's: data lineage, slices, top features."""
    if mine is None:
        return {"note": f"no `{MODEL_CARD_FILE}` for this model (run `make pipeline`)"}
    if theirs is None:
        return {"note": "the champion's commit has no model card: nothing to compare the card with"}
    changed = []
    for key in ("source", "lineage", "contract_sha256", "source_md5", "md5"):
        if mine["data"].get(key) != theirs["data"].get(key):
            changed.append(key)
    rows = {split: [theirs["data"]["rows"].get(split), mine["data"]["rows"].get(split)] for split in ("train", "test")}
    top = [
        [entry["feature"] for entry in card["feature_importance"]["features"][:TOP_FEATURES]] for card in (theirs, mine)
    ]
    metric = mine["slices"].get("metric")
    before = {(e["column"], e["value"]): e for e in theirs["slices"]["results"]}
    slices = []
    for entry in mine["slices"]["results"]:
        old = before.get((entry["column"], entry["value"]))
        value, old_value = entry["metrics"].get(metric), old["metrics"].get(metric) if old else None
        if old is not None and value is not None and old_value is not None and not entry["too_small"]:
            slices.append(
                {
                    "slice": f"{entry['column']} = {entry['value']}",
                    "n": entry["n"],
                    "change": round(value - old_value, 6),
                }
            )
    higher = METRICS[metric].higher_is_better if metric in METRICS else True
    slices.sort(key=lambda e: e["change"] if higher else -e["change"])
    return {
        "data_changed": changed,
        "rows": rows,
        "top_features": {"champion": top[0], "challenger": top[1]},
        "slice_metric": metric,
        "slices_most_worse": slices[:3],
        "note": "",
    }


def card_command(args: argparse.Namespace) -> int:
    """`card`: write reports/model_card.json, reports/model_card.md and reports/model_bom.cdx.json."""
    params = load_params()
    model = io.load_model(MODEL_FILE)
    card = build_card(params, model, io.read_table(TRAIN_DATA), io.read_table(TEST_DATA))
    io.write_json(card, MODEL_CARD_FILE)
    io.write_text(render_card(card), MODEL_CARD_REPORT)
    io.write_json(bom(card, __name__.split(".")[0]), MODEL_BOM_FILE)
    judged = sum(entry["judged"] for entry in card["slices"]["results"])
    print(
        f"card: model sha256 {card['model']['sha256'][:12]}, {len(card['metrics']['values'])} metrics with intervals, "
        f"{judged} slices judged of {len(card['slices']['results'])}, {len(card['feature_importance']['features'])} "
        f"features ranked -> {MODEL_CARD_FILE}, {MODEL_CARD_REPORT}, {MODEL_BOM_FILE}"
    )
    return 0
