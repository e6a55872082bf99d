"""The `compare` command: champion vs challenger on the same holdout, a decision and a report.

The challenger is the workspace's model; the champion is GTO's `model#prod` (registry.py). Both score
the challenger's test split (metrics.Predictions). The gate passes when the worse end of the bootstrap
interval of the difference in the gate metric loses at most `gate.margin` (a fraction of the champion's
score), the challenger reaches `gate.floor`, and its p95 single-row latency and file size stay within
the ratio limits (decision.py holds the policy, scoring.py the measurements, report.py the Markdown).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..columns import feature_columns
from ..errors import ProjectError, RegistryError
from ..metrics import METRICS, Predictions
from ..params import MODEL_FILE, PLOTS_DIR, REPORTS_DIR, TEST_DATA, VALIDATION_FILE, Params, load_params
from .decision import Challenger, Champion, Comparison, Holdout, finite_or_none, judge
from .registry import fetch_model, head_commit, is_dirty, production
from .report import render
from .scoring import latency_p95

COMPARE_FILE = REPORTS_DIR / "compare.json"
COMPARE_REPORT = REPORTS_DIR / "compare.md"
# Where the champion comes from: a function of a scratch folder -> (fitted model, its Champion record).
ChampionSource = Callable[[Path], tuple[Any, Champion] | None]


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def validation_summary(path: Path = VALIDATION_FILE) -> dict[str, Any] | None:
    """The data check's verdict from reports/validation.json; None when absent or unreadable."""
    try:
        report = io.read_json(path)
    except ProjectError:
        return None
    if not isinstance(report, dict):
        return None
    entries = [e for e in report.get("expectations") or report.get("results") or [] if isinstance(e, dict)]
    failed = [e for e in entries if e.get("success") is False and e.get("severity", "error") == "error"]
    return {
        "success": report.get("success") if isinstance(report.get("success"), bool) else None,
        "evaluated": len(entries),
        "failed": len(failed),
        "failing": [f"{e.get('column') or '(table)'}: {e.get('expectation') or e.get('kind')}" for e in failed][:10],
    }


def _git_state() -> tuple[str | None, bool]:
    try:
        return head_commit(), is_dirty()
    except RegistryError:
        return None, False


def _score(model: Any, features: pd.DataFrame, actual: pd.Series, task: str, who: str) -> Predictions:
    try:
        return Predictions.from_model(model, features, actual, task)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProjectError(f"the {who} cannot score {TEST_DATA}: {type(exc).__name__}: {exc}") from None


def compare(params: Params, champion_source: ChampionSource, folder: Path) -> Comparison:
    """Everything the gate measured and decided (reports/compare.json)."""
    gate, metric = params.gate, params.gate_metric
    frame = io.read_table(TEST_DATA)
    features = frame[feature_columns(frame.columns, params.data.target, params.data.id_column)]
    actual = frame[params.data.target]
    challenger_model = io.load_model(MODEL_FILE)
    challenger = _score(challenger_model, features, actual, params.task, "challenger")
    commit, dirty = _git_state()
    after = challenger.scores()
    challenger_side = Challenger(
        commit=commit,
        uncommitted_changes=dirty,
        size_bytes=MODEL_FILE.stat().st_size,
        metrics={k: finite_or_none(v) for k, v in after.items()},
    )
    found = champion_source(folder)
    champion_side, ratios = None, None
    if found is None:
        decision, deltas = judge(None, challenger, gate, metric, params.seed)
    else:
        champion_model, champion_side = found
        champion = _score(champion_model, features, actual, params.task, "champion")
        champion_side.metrics = {k: finite_or_none(v) for k, v in champion.scores().items()}
        champion_side.latency, challenger_side.latency = latency_p95([champion_model, challenger_model], features)
        ratios = {
            "latency_p95": round(challenger_side.latency["p95_ms"] / max(champion_side.latency["p95_ms"], 1e-9), 4),
            "size": round(challenger_side.size_bytes / max(champion_side.size_bytes, 1), 4),
        }
        decision, deltas = judge(champion, challenger, gate, metric, params.seed, ratios["latency_p95"], ratios["size"])
    return Comparison(
        metric=metric,
        higher_is_better=METRICS[metric].higher_is_better,
        policy={**gate.model_dump(), "metric": metric, "seed": params.seed},
        holdout=Holdout(TEST_DATA.as_posix(), len(frame), sha256(TEST_DATA)),
        challenger=challenger_side,
        champion=champion_side,
        validation=validation_summary(),
        decision="pass" if decision.passed else "block",
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=list(decision.checks),
        deltas=deltas,
        ratios=ratios,
    )


def production_champion(folder: Path) -> tuple[Any, Champion] | None:
    """The production model (GTO model#prod) loaded from the DVC cache/remote, or rebuilt at its commit."""
    prod = production()
    if prod is None:
        return None
    path, source = fetch_model(prod, folder)
    record = Champion(prod.version, prod.commit, prod.ref, source, path.stat().st_size)
    return io.load_model(path), record


def compare_command(args: argparse.Namespace) -> int:
    """`compare`: write reports/compare.json and reports/compare.md; exit 1 when the challenger is blocked."""
    params = load_params()
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        result = compare(params, production_champion, Path(folder))
    result.plots = sorted(path.as_posix() for path in PLOTS_DIR.glob("*.png"))
    io.write_json(result.to_json(), COMPARE_FILE)
    io.write_text(render(result), COMPARE_REPORT)
    print(f"compare: {result.verdict} -> {COMPARE_REPORT}, {COMPARE_FILE}")
    return 0 if result.passed else 1
