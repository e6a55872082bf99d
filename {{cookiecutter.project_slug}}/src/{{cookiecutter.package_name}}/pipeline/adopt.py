"""`adopt SOURCE --target COL`: make a team's own table the project's data in one step.

It reads the source as ingest does, infers the task from the target when not given (and says why), sets
params.yaml's data and every task-coupled setting at once (the task, the gate's metric, guardrails and floor
on the metric's own scale, the estimator and its arguments, a new lineage name), infers schema.yaml, and moves
the previous data's local leftovers (labelled production rows, the local monitoring store, demo samples) aside
under archive/<UTC time>/ rather than deleting them. It prints the diff of params.yaml and asks before writing
(`--yes` does not ask). The production model of the previous lineage is not a champion for the new data:
`compare` and `promote` say so, and `--new-lineage` starts the new line of models.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..contract import write_contract
from ..errors import ProjectError
from ..estimators import DEFAULTS
from ..metrics import GUARDRAILS, PRIMARY_METRIC, Task
from ..params import (
    PARAMS_FILE,
    PRODUCTION_DATA,
    QUARANTINE_DIR,
    SCHEMA_FILE,
    TUNE_SPACES,
    edited_params,
    load_params,
)
from .data import load_source, normalise_columns, snake_case
from .schema import infer_contract

ARCHIVE_DIR = Path("archive")
SOURCE_DIR = Path("data/source")  # ingest's tracked folder (dvc.yaml)
DVC_FILE = Path("dvc.yaml")
# Demo samples made from the previous data (make drift-samples, make monitor-samples).
DEMO_DIRS = (Path("data/drift"), Path("data/monitor"))
# An integer target with at most this many distinct values, each on at least MIN_CLASS_SHARE of the rows on
# average, is a set of classes (ratings 1-5, codes); more is a quantity (counts, amounts).
MAX_INTEGER_CLASSES = 20
# The floor a classifier's roc_auc must reach on a new lineage: chance is 0.5. Review it (adopt says so).
CLASSIFICATION_FLOOR = 0.6
# The plots DVC draws from reports/plots/ (evaluate.py writes their tables), per task.
DVC_PLOTS: dict[str, list[dict[str, Any]]] = {
    "classification": [
        {"reports/plots/roc.csv": {"title": "ROC curve", "template": "simple", "x": "fpr", "y": "tpr"}},
        {
            "reports/plots/precision_recall.csv": {
                "title": "Precision-recall curve",
                "template": "simple",
                "x": "recall",
                "y": "precision",
            }
        },
        {
            "reports/plots/predictions.csv": {
                "title": "Confusion matrix",
                "template": "confusion",
                "x": "actual",
                "y": "predicted",
            }
        },
    ],
    "regression": [
        {
            "reports/plots/predictions.csv": {
                "title": "Predicted vs actual",
                "template": "scatter",
                "x": "actual",
                "y": "predicted",
            }
        }
    ],
}


def infer_task(target: pd.Series) -> tuple[Task, str]:
    """The task a target column calls for, and why, in words."""
    values = target.dropna()
    distinct = values.nunique()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        shown = ", ".join(map(str, sorted(values.astype(str).unique())[:5]))
        return "classification", f"it holds {distinct} labels ({shown}{', ...' if distinct > 5 else ''})"
    whole = bool((values % 1 == 0).all())
    if whole and distinct <= MAX_INTEGER_CLASSES and distinct <= len(values) / 10:
        return "classification", f"it holds {distinct} whole numbers (about {len(values) / distinct:.0f} rows each)"
    kind = "whole numbers" if whole else "numbers"
    return "regression", f"it holds {distinct} distinct {kind}"


def task_settings(task: Task, target: pd.Series) -> dict[str, Any]:
    """params.yaml's task-coupled settings (dotted keys) for a new lineage of this task and target."""
    estimator, arguments = DEFAULTS[task]
    metric = PRIMARY_METRIC[task]
    # regression's rmse floor: what predicting the mean scores, so that a model must beat it
    floor = CLASSIFICATION_FLOOR if task == "classification" else float(f"{float(target.std(ddof=0)):.3g}")
    return {
        "task": task,
        "gate.metric": metric,
        "gate.guardrails": [name for name in GUARDRAILS[task] if name != metric],
        "gate.floor": floor,
        "train.estimator": estimator,
        "train.params": arguments,
        "tune.space": TUNE_SPACES[task],  # what `tune` searches: the default estimator's arguments
    }


def column_named(frame: pd.DataFrame, name: str, role: str) -> str:
    """The table's column for a name given as in the source (`Churn Label`) or in snake_case (`churn_label`)."""
    wanted = snake_case(name)
    if wanted not in frame.columns:
        guess = difflib.get_close_matches(wanted, [str(c) for c in frame.columns], n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else f" (columns: {', '.join(map(str, frame.columns))})"
        raise ProjectError(f"{role} {name!r} is not a column of the source{hint}")
    return wanted


def check_id(frame: pd.DataFrame, id_column: str) -> None:
    """An id must be set on every row and name one row."""
    ids = frame[id_column]
    if ids.isna().any():
        raise ProjectError(
            f"--id {id_column!r} is missing on {int(ids.isna().sum())} rows: ids must be set on every row"
        )
    if not ids.is_unique:
        repeated = ids[ids.duplicated()].iloc[0]
        raise ProjectError(f"--id {id_column!r} is not unique ({repeated!r} repeats): pick a column that names one row")


def id_candidates(frame: pd.DataFrame, target: str) -> list[str]:
    """Columns that look like a row id (unique, never null, named like one): adopt suggests them."""
    return [
        str(name)
        for name in frame.columns
        if name != target
        and (str(name) == "id" or str(name).endswith("_id"))
        and frame[name].notna().all()
        and frame[name].is_unique
    ]


@dataclass(frozen=True)
class Plan:
    """What adopt will do: the new params.yaml text, the contract, hints, and what moves aside."""

    source: str
    old_params: str
    new_params: str
    contract: Any
    task: Task
    why: str
    hints: list[str]
    leftovers: list[Path]


def leftovers(store: str) -> list[Path]:
    """The previous data's local traces: labelled production rows (and their .dvc files), quarantined rows, the local
    monitoring store and the demo samples. A store at a URL is not touched."""
    found = sorted(PRODUCTION_DATA.glob("*.parquet")) + sorted(PRODUCTION_DATA.glob("*.parquet.dvc"))
    folders = [QUARANTINE_DIR, *DEMO_DIRS]
    if "://" not in store:
        folders.append(Path(store))
    return found + [folder for folder in folders if folder.is_dir() and any(folder.iterdir())]


def read_source(source: str) -> pd.DataFrame:
    """The source as ingest reads it (snake_case columns), before any column is known to be the target."""
    frame = normalise_columns(load_source(source)).reset_index(drop=True)
    if frame.empty:
        raise ProjectError(f"{source}: the table has no rows")
    return frame


def project_source(source: str) -> str:
    """Where the pipeline reads the source from: a URL as it is; a local file under data/source/ (ingest's
    tracked folder), so that a changed file re-runs the pipeline."""
    if "://" in source or source.startswith("sklearn:"):
        return source
    path = Path(source)
    if not path.is_file():
        raise ProjectError(f"{source}: file not found")
    inside = path.resolve().is_relative_to(SOURCE_DIR.resolve())
    return path.resolve().relative_to(Path.cwd()).as_posix() if inside else (SOURCE_DIR / path.name).as_posix()


def plan(source: str, target: str, task: Task | None, id_column: str | None) -> Plan:
    """Read the source, decide the task and settings, check the edited params.yaml and infer the contract."""
    current = load_params(estimator=False)
    frame = read_source(source)
    target = column_named(frame, target, "--target")
    if frame[target].isna().any():
        raise ProjectError(f"--target {target!r} is missing on {int(frame[target].isna().sum())} rows: drop them first")
    hints = []
    if id_column is not None:
        id_column = column_named(frame, id_column, "--id")
        check_id(frame, id_column)
    else:
        hints = [
            f"{name!r} is unique on every row: pass --id {name} to split by it" for name in id_candidates(frame, target)
        ]
    inferred, why = infer_task(frame[target])
    chosen = task or inferred
    lineage = f"{Path(source.split('?', 1)[0]).stem}-{datetime.now(UTC):%Y%m%d}"
    changes = {
        "data.source": project_source(source),
        "data.target": target,
        "data.id_column": id_column,
        "data.lineage": lineage if lineage != current.data.lineage else f"{lineage}-2",
        **task_settings(chosen, frame[target]),
    }
    old, new, params = edited_params(changes)
    contract = infer_contract(frame, target, chosen, params.contract, id_column)
    return Plan(
        changes["data.source"],
        old,
        new,
        contract,
        chosen,
        "given with --task" if task else why,
        hints,
        leftovers(current.monitor.store),
    )


def move_aside(paths: list[Path], archive: Path) -> list[Path]:
    """Move each path under `archive`, keeping its place relative to the project; DVC's .gitignore entries of moved
    production rows are removed so that git shows their .dvc files as deleted, nothing else."""
    moved = []
    for path in paths:
        destination = archive / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(destination))
        moved.append(destination)
    ignore = PRODUCTION_DATA / ".gitignore"
    if ignore.is_file():
        gone = {f"/{path.name}" for path in paths if path.parent == PRODUCTION_DATA}
        kept = [line for line in ignore.read_text(encoding="utf-8").splitlines() if line.strip() not in gone]
        io.write_text("".join(f"{line}\n" for line in kept), ignore)
    return moved


def track_source(source: str) -> str | None:
    """`dvc add` a local source file inside the project that neither git nor DVC tracks yet; what was done."""
    path = Path(source)
    if "://" in source or path.is_absolute() or not path.is_file() or Path(f"{source}.dvc").is_file():
        return None
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", source], capture_output=True, check=False)
    if tracked.returncode == 0:
        return None
    result = subprocess.run(
        [sys.executable, "-m", "dvc", "add", "--quiet", source], capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise ProjectError(f"dvc add {source} failed: {(result.stderr or result.stdout).strip().splitlines()[-1]}")
    return f"tracked {source} with DVC ({source}.dvc and its .gitignore entry go to git; `make push` uploads it)"


def confirm(yes: bool) -> None:
    """Go on when --yes was given or the user says so; a non-interactive run without --yes is a usage error."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ProjectError("nothing written: review the diff above, then run again with --yes (make adopt ... YES=1)")
    if input("adopt: write params.yaml and schema.yaml? [y/N] ").strip().lower() not in ("y", "yes"):
        raise ProjectError("nothing written")


def adopt_command(args: argparse.Namespace) -> int:
    """`adopt SOURCE --target COL`: set params.yaml and schema.yaml for a new data source, move old leftovers aside."""
    step = plan(args.source, args.target, args.task, args.id)
    print(f"adopt: task {step.task}: {step.why}")
    diff = difflib.unified_diff(
        step.old_params.splitlines(keepends=True),
        step.new_params.splitlines(keepends=True),
        "params.yaml",
        "params.yaml",
    )
    sys.stdout.writelines(diff)
    features = [spec for spec in step.contract.columns if spec.name != step.contract.target]
    left_out = [spec.name for spec in features if not spec.feature]
    print(
        f"adopt: schema.yaml: {len(step.contract.columns)} columns, target {step.contract.target!r}"
        + (f"; not features (near-unique text): {', '.join(left_out)}" if left_out else "")
    )
    for hint in step.hints:
        print(f"adopt: hint: {hint}")
    if step.leftovers:
        print(f"adopt: moving the previous data's leftovers aside: {', '.join(map(str, step.leftovers))}")
    confirm(args.yes)
    archive = ARCHIVE_DIR / datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    moved = move_aside(step.leftovers, archive) if step.leftovers else []
    io.write_text(step.new_params, PARAMS_FILE)
    write_contract(step.contract, SCHEMA_FILE)
    io.write_text(io.edit_yaml(DVC_FILE.read_text(encoding="utf-8"), {"plots": DVC_PLOTS[step.task]}), DVC_FILE)
    if step.source != args.source and "://" not in step.source:
        Path(step.source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.source, step.source)
        print(f"adopt: copied {args.source} to {step.source} (the pipeline's tracked data folder)")
    tracked = track_source(step.source)
    print(
        f"adopt: wrote {PARAMS_FILE}, {SCHEMA_FILE} and dvc.yaml's plots"
        + (f"; moved {len(moved)} to {archive}/" if moved else "")
    )
    if tracked:
        print(f"adopt: {tracked}")
    print(
        "adopt: next: review `git diff` (gate.floor above all: the worst model you would ship), then `make pipeline`."
        " A production model (`make production`) is of the previous lineage: `make compare NEW_LINEAGE=1` gates on"
        " the floor alone, and `make promote NEW_LINEAGE=1` starts the new lineage"
    )
    return 0
