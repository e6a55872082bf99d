"""`experiments`: the DVC experiments of this repository (`dvc exp show --json`) as one table, best first by the gate's
metric (its direction from metrics.METRICS), with the params that differ between them.

Every `dvc exp run` records params.yaml, reports/metrics.json and the plots, with no server: an experiment is a git
ref (refs/exps) that `dvc exp apply`, `dvc exp branch` or `dvc exp push` take further (docs/tuning.md).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProjectError
from ..metrics import METRICS, task_metrics
from ..params import METRICS_FILE, PARAMS_FILE, load_params
from ..registry import dvc


@dataclass(frozen=True)
class Row:
    """One line of the table: the workspace, a commit, or an experiment of a commit."""

    name: str
    rev: str
    state: str  # done, or the queue's state of an experiment not done yet (queued, running, failed)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys (train.params.C); a list stays one value."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _row(entry: dict[str, Any], name: str, state: str) -> Row:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get(PARAMS_FILE.as_posix()) or {}).get("data") or {}
    metrics = ((data.get("metrics") or {}).get(METRICS_FILE.as_posix()) or {}).get("data") or {}
    numbers = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    state = "failed" if entry.get("error") else {"success": "done"}.get(state.lower(), state.lower())
    rev = str(entry.get("rev") or "")
    return Row(name, "" if rev == "workspace" else rev[:7], state, numbers, flatten(params))


def rows(shown: list[dict[str, Any]]) -> list[Row]:
    """The workspace, each commit and each of its experiments, from `dvc exp show --json`."""
    found = []
    for baseline in shown:
        rev = str(baseline.get("rev") or "")
        found.append(_row(baseline, "workspace" if rev == "workspace" else baseline.get("name") or rev[:7], "done"))
        for experiment in baseline.get("experiments") or []:
            executor = experiment.get("executor") or {}
            state = str(executor.get("state") or "done") if isinstance(executor, dict) else "done"
            for revision in experiment.get("revs") or []:
                found.append(_row(revision, str(revision.get("name") or experiment.get("name") or "?"), state))
    return found


def ranked(found: list[Row], metric: str) -> list[Row]:
    """Best first by `metric` in its direction; rows without it (queued, failed) last, in their order."""
    sign = -1.0 if METRICS[metric].higher_is_better else 1.0
    scored = [row for row in found if math.isfinite(row.metrics.get(metric, math.nan))]
    unscored = [row for row in found if not math.isfinite(row.metrics.get(metric, math.nan))]
    return sorted(scored, key=lambda row: sign * row.metrics[metric]) + unscored


def varying(found: list[Row]) -> list[str]:
    """The params every row has and whose values differ between them (what the experiments changed; a key that
    only some commits' params.yaml have is a change of the file's layout, not of an experiment)."""
    rows_with = [row for row in found if row.params]
    keys = sorted(set.intersection(*(set(row.params) for row in rows_with))) if rows_with else []
    return [key for key in keys if len({json.dumps(row.params[key], default=str) for row in rows_with}) > 1]


def table(found: list[Row], metric: str, task: str) -> str:
    """The rows as a Markdown table: name, rev, state, the gate's metric, the task's other metrics, changed params."""
    metrics = [metric, *(m for m in task_metrics(task) if m != metric and any(m in row.metrics for row in found))]
    params = varying(found)
    header = ["experiment", "rev", "state", *(f"**{metric}**" if m == metric else m for m in metrics), *params]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * len(metrics) + "---|" * len(params)]
    for row in found:
        cells = [row.name, row.rev, row.state]
        cells += [f"{row.metrics[m]:.4f}" if m in row.metrics else "—" for m in metrics]
        cells += [json.dumps(row.params[p], default=str) if p in row.params else "—" for p in params]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def experiments_command(args: argparse.Namespace) -> int:
    """`experiments`: print the table of `dvc exp show --json`, best first by the gate's metric."""
    params = load_params(estimator=False)
    try:
        shown = json.loads(dvc("exp", "show", "--json", *(["--all-commits"] if args.all_commits else [])) or "[]")
    except json.JSONDecodeError as exc:
        raise ProjectError(f"dvc exp show --json printed no JSON: {exc}") from None
    metric = params.gate_metric
    found = ranked(rows(shown), metric)
    direction = "higher" if METRICS[metric].higher_is_better else "lower"
    print(table(found, metric, params.task))
    print(
        f"\n{len(found)} rows, best first by {metric} ({direction} is better) on the test split. Picking the best of "
        "many experiments by it tunes on the test split: `make tune` selects by cross-validation on the train split."
    )
    return 0
