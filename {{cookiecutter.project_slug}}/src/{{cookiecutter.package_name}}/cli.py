"""`python -m <package> <command>`: the pipeline stages and the ops commands.

Exit codes, shared by every command: 0 = go; 1 = a gate says no (invalid data, blocked model,
drift found); 2 = usage or runtime error, reported on one line on stderr.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .errors import ProjectError

# command -> (module, function, help). Each command is a thin function at the end of its wing's module
# (pipeline/, gate/, monitor/, serving/): it reads, calls the module's pure logic, writes, returns an
# exit code. Modules are imported only when their command runs, so a heavy import (Great Expectations,
# BentoML) costs nothing to the other commands. dvc.yaml's deps of each stage are exactly the modules
# its command imports (a template test computes them).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "adopt": (
        "pipeline.adopt",
        "adopt_command",
        "make a table the project's data: params.yaml (task, gate, estimator) and schema.yaml at once",
    ),
    "ingest": ("pipeline.data", "ingest_command", "read data.source into data/raw/ with snake_case columns"),
    "schema": ("pipeline.schema", "schema_command", "infer schema.yaml (the data contract) from data/raw/"),
    "validate": ("pipeline.validate", "validate_command", "check data/raw/ against schema.yaml (exit 1 if it breaks)"),
    "split": ("pipeline.data", "split_command", "split data/raw/ into data/processed/train and test"),
    "train": ("pipeline.train", "train_command", "fit the model pipeline, write models/model.joblib"),
    "evaluate": ("pipeline.evaluate", "evaluate_command", "score the model on the test split, write reports/"),
    "card": (
        "gate.card",
        "card_command",
        "write the model card (reports/model_card.json, .md) and the ML-BOM (reports/model_bom.cdx.json)",
    ),
    "compare": ("gate.compare", "compare_command", "challenger vs production model on unseen rows (exit 1 if blocked)"),
    "promote": (
        "gate.promotion",
        "promote_command",
        "make this commit's model production (exit 1 if rolled back from)",
    ),
    "rollback": ("gate.promotion", "rollback_command", "make an earlier registered version production again"),
    "production": ("gate.promotion", "production_command", "print the production model's version and commit"),
    "drift": ("monitor.drift", "drift_command", "compare current data with the training data (exit 1 on drift)"),
    "monitor": (
        "monitor.monitor",
        "monitor_command",
        "drift and live performance of the logged traffic vs the production model (exit 1 on a finding)",
    ),
    "dataset": ("monitor.dataset", "dataset_command", "labelled production rows -> a new DVC-tracked data version"),
    "retrain-decision": (
        "monitor.retraining",
        "retrain_decision_command",
        "after `monitor`: retrain? (degraded, or drift for monitor.retrain_after_runs runs; exit 1: not now)",
    ),
    "compact": ("monitor.store_ops", "compact_command", "merge the monitoring store's small parts into larger files"),
    "retention": (
        "monitor.store_ops",
        "retention_command",
        "delete the monitoring store's days older than monitor.retention_days",
    ),
    "erase": ("monitor.store_ops", "erase_command", "remove the rows of these ids from the monitoring store (--id)"),
    "package": (
        "serving.packaging",
        "package_command",
        "store models/model.joblib in the BentoML store",
    ),
    "serve": ("serving.packaging", "serve_command", "serve the model over HTTP with BentoML (POST /predict)"),
    "example": ("serving.packaging", "example_command", "print a POST /predict body of real holdout rows (JSON)"),
    "predict": (
        "batch.predict",
        "predict_command",
        "score files of records with the production model into Parquet (exit 1: too many rows rejected)",
    ),
    "tune": (
        "pipeline.tune",
        "tune_command",
        "search train.params by cross-validation on the train split (--apply: write them when proven better)",
    ),
    "experiments": (
        "pipeline.experiments",
        "experiments_command",
        "the DVC experiments (dvc exp show) as one table, best first by the gate's metric",
    ),
}

# command -> [(flags, argparse keyword arguments)]
ARGUMENTS: dict[str, list[tuple[tuple[str, ...], dict[str, Any]]]] = {}
ARGUMENTS["adopt"] = [
    (("source",), {"metavar": "SOURCE", "help": "a CSV or Parquet file, or an http(s)/s3/gs URL"}),
    (
        ("--target",),
        {"required": True, "metavar": "COL", "help": "the column to predict (as in the file, or snake_case)"},
    ),
    (
        ("--task",),
        {"choices": ["classification", "regression"], "help": "default: inferred from the target (adopt says why)"},
    ),
    (("--id",), {"metavar": "COL", "help": "a stable row id: rows are split by its hash (recommended)"}),
    (("--yes",), {"action": "store_true", "help": "write without asking (the diff is printed either way)"}),
]
_PUSH = (("--push",), {"action": "store_true", "help": "push the new GTO tags to the git remote origin"})
_NEW_LINEAGE = (
    ("--new-lineage",),
    {"action": "store_true", "help": "the production model is of another lineage (adopt): start this one"},
)
_OVERRIDE = [
    (
        ("--override",),
        {"metavar": "WHY", "help": "loosen the gate (or cross lineages) on purpose: the reason is recorded"},
    ),
    (("--override-by",), {"metavar": "WHO", "help": "who decided the override (default: git's user)"}),
]
ARGUMENTS["promote"] = [
    _PUSH,
    (("--force",), {"action": "store_true", "help": "promote even a model production was rolled back from"}),
    _NEW_LINEAGE,
    *_OVERRIDE,
]
ARGUMENTS["compare"] = [_NEW_LINEAGE, *_OVERRIDE]
ARGUMENTS["rollback"] = [
    (("--to",), {"required": True, "metavar": "VERSION", "help": "a registered version, e.g. v0.0.1"}),
    _PUSH,
]
ARGUMENTS["production"] = [(("--json",), {"action": "store_true", "help": "print version, commit and tag as JSON"})]
_SINCE = (("--since",), {"metavar": "WHEN", "help": "window: a length (30m, 12h, 7d, 2w) or a UTC date (2026-11-24)"})
_STORE = (("--store",), {"metavar": "URL", "help": "the monitoring store: a folder or URL (default: monitor.store)"})
ARGUMENTS["drift"] = [
    (("--reference",), {"metavar": "PATH", "help": "reference data (default: data/processed/train.parquet)"}),
    (
        ("--current",),
        {"metavar": "PATH", "help": "current data: path, glob or URL (default: drift.current, else the store)"},
    ),
    (("--since",), {"metavar": "WHEN", "help": "the store's window without --current (default: monitor.window)"}),
]
ARGUMENTS["monitor"] = [
    _SINCE,
    _STORE,
    (
        ("--version",),
        {"metavar": "V", "help": "judge this model version's rows, e.g. a canary's (default: the production model's)"},
    ),
    (("--all-versions",), {"action": "store_true", "help": "judge the rows of every model version together"}),
]
ARGUMENTS["dataset"] = [
    (("--since",), {"metavar": "WHEN", "help": "only rows logged since: 30d or 2026-11-24 (default: the whole store)"}),
    _STORE,
]
ARGUMENTS["retrain-decision"] = [
    (
        ("--history",),
        {"metavar": "PATH", "help": "the earlier runs' verdicts (JSON lines), with this run's added (default: none)"},
    ),
    (
        ("--retrains",),
        {"metavar": "PATH", "help": "`gh run list --workflow retrain.yml --json createdAt` (default: no retrain yet)"},
    ),
    (("--run",), {"metavar": "URL", "help": "this run, recorded in the history"}),
]
ARGUMENTS["compact"] = [_STORE]
ARGUMENTS["retention"] = [_STORE]
ARGUMENTS["erase"] = [
    (
        ("--id",),
        {"required": True, "action": "append", "metavar": "ID", "help": "a record's id as the client sent it (repeat)"},
    ),
    _STORE,
]
ARGUMENTS["predict"] = [
    (
        ("--input",),
        {"required": True, "metavar": "PATH", "help": "CSV, Parquet or JSON lines: a file, folder, glob or URL"},
    ),
    (("--output",), {"required": True, "metavar": "PATH", "help": "where the predictions go: a .parquet path or URL"}),
    (("--engine",), {"choices": ["local", "spark"], "default": "local", "help": "local (default), or Spark"}),
    (("--model",), {"metavar": "PATH", "help": "a model file (default: production, else models/model.joblib)"}),
    (
        ("--log",),
        {"action": "store_true", "help": "also write the predictions to the monitoring store (_traffic: batch)"},
    ),
    _STORE,
]
ARGUMENTS["example"] = [(("--rows",), {"type": int, "default": 1, "help": "how many records (default: 1)"})]
ARGUMENTS["serve"] = [
    (("--host",), {"default": "127.0.0.1", "help": "address to listen on (default: 127.0.0.1)"}),
    (("--port",), {"type": int, "default": 3000, "help": "port to listen on (default: 3000)"}),
    (("--bento",), {"metavar": "TAG", "help": "serve a built bento (e.g. latest) instead of the working tree"}),
]
ARGUMENTS["tune"] = [
    (
        ("--apply",),
        {"action": "store_true", "help": "write the best into train.params if it beats them by > 1 standard error"},
    ),
    (("--trials",), {"type": int, "metavar": "N", "help": "the study's size (default: tune.trials)"}),
    (("--timeout",), {"type": float, "metavar": "S", "help": "seconds this run may take (default: tune.timeout)"}),
    (("--workers",), {"type": int, "metavar": "N", "help": "processes (default: tune.workers, else one per CPU)"}),
]
ARGUMENTS["experiments"] = [
    (("--all-commits",), {"action": "store_true", "help": "the experiments of every commit, not only HEAD's"}),
]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand per entry of COMMANDS."""
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="command", required=True)
    for name, (_, _, help_text) in COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        for flags, options in ARGUMENTS.get(name, []):
            command.add_argument(*flags, **options)
    return parser


def import_command(module_name: str) -> ModuleType:
    """Import a command's module with the cyclic garbage collector paused, then freeze what was loaded.

    The imports (pandas, scipy, scikit-learn, ...) create hundreds of thousands of objects that live
    as long as the process. Collecting while they load is wasted work, and gc.freeze() keeps them out
    of every later collection: 0.2-0.3 s off the 3 s drift check at 1M rows.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(f".{module_name}", __package__)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code; domain errors (errors.py) become one line and exit 2."""
    args = build_parser().parse_args(argv)
    module_name, function_name, _ = COMMANDS[args.command]
    try:
        module = import_command(module_name)
        command: Callable[[argparse.Namespace], int] = getattr(module, function_name)
        return command(args)
    except ProjectError as exc:
        print(f"{args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a verdict: exit 2 (never 1, which a gate would read as "no")
        traceback.print_exc()
        print(f"{args.command}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
