"""The `compare` command: the workspace's model (challenger) against production's (champion) -> compare.json/.md.

Both score the challenger's test rows that the champion never trained on (holdout.py), each with the columns
it was trained on; scoring.py measures, decision.py judges by the `GatePolicy`, report.py writes the Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..columns import feature_columns
from ..errors import ProjectError, RegistryError
from ..metrics import Predictions
from ..params import MODEL_FILE, PLOTS_DIR, REPORTS_DIR, TEST_DATA, TRAIN_DATA, VALIDATION_FILE, Params, load_params
from ..registry import ModelRef, crossing, fetch_output, file_digest, head_commit, is_dirty, production
from .decision import Challenger, Champion, Comparison, GatePolicy, Holdout, finite_or_none, judge
from .holdout import unseen_rows
from .report import render
from .scoring import latency

COMPARE_FILE = REPORTS_DIR / "compare.json"
COMPARE_REPORT = REPORTS_DIR / "compare.md"


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


def model_inputs(model: Any, frame: pd.DataFrame, default: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The columns a model was trained on (missing ones as missing values), and which were missing.

    A challenger that adds or drops a feature is still compared: each model reads its own columns.
    """
    wanted = [str(name) for name in getattr(model, "feature_names_in_", default)]
    return frame.reindex(columns=wanted), [name for name in wanted if name not in frame.columns]


def _score(model: Any, features: pd.DataFrame, actual: pd.Series, task: str, who: str) -> Predictions:
    try:
        return Predictions.from_model(model, features, actual, task)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProjectError(f"the {who} cannot score {TEST_DATA}: {type(exc).__name__}: {exc}") from None


@dataclass(frozen=True)
class Found:
    """The champion as the gate needs it: the fitted model, which one it is, and its training split."""

    model: Any
    ref: ModelRef
    train: pd.DataFrame


ChampionSource = Callable[[Path], Found | None]


def holdout_for(
    frame: pd.DataFrame, found: Found | None, policy: GatePolicy, id_column: str | None
) -> tuple[pd.DataFrame, Holdout]:
    """The test rows both models are scored on, and their description; too few rows left is exit 2."""
    holdout = Holdout(TEST_DATA.as_posix(), len(frame), file_digest(TEST_DATA, "sha256"))
    if found is None:
        return frame, holdout
    unseen = unseen_rows(frame, found.train, id_column)
    kept = frame[unseen.mask.to_numpy()].reset_index(drop=True)
    holdout = Holdout(holdout.path, len(kept), holdout.sha256, unseen.excluded, unseen.matched_by)
    minimum = policy.min_holdout_rows
    if len(kept) < minimum:
        how = "" if id_column else "; set data.id_column to a stable row id so rows keep their side of the split"
        raise ProjectError(
            f"only {len(kept)} of {len(frame)} test rows are absent from the champion's training split (matched by "
            f"{unseen.matched_by}), fewer than gate.min_holdout_rows {minimum}: the comparison would be noise{how}"
        )
    return kept, holdout


def compare(
    params: Params, champion_source: ChampionSource, folder: Path, new_lineage: str | None = None
) -> Comparison:
    """Everything the gate measured and decided (reports/compare.json); `new_lineage` (why production is no
    champion) judges the challenger on the floor alone."""
    policy = GatePolicy.from_params(params)
    found = champion_source(folder)
    frame, holdout = holdout_for(io.read_table(TEST_DATA), found, policy, params.data.id_column)
    default = feature_columns(frame.columns, params.data.target, params.data.id_column)
    actual = frame[params.data.target]
    challenger_model = io.load_model(MODEL_FILE)
    challenger_inputs, _ = model_inputs(challenger_model, frame, default)
    challenger = _score(challenger_model, challenger_inputs, actual, params.task, "challenger")
    commit, dirty = _git_state()
    size = MODEL_FILE.stat().st_size
    metrics = {k: finite_or_none(v) for k, v in challenger.scores().items()}
    if found is None:
        no_champion = f"no champion: {new_lineage} (--new-lineage)" if new_lineage else "no production model yet"
        decision, deltas = judge(None, challenger, policy, no_champion=no_champion)
        challenger_side, champion_side, ratios = Challenger(commit, dirty, size, metrics), None, None
    else:
        champion_inputs, missing = model_inputs(found.model, frame, default)
        champion = _score(found.model, champion_inputs, actual, params.task, "champion")
        before, after = latency([found.model, challenger_model], [champion_inputs, challenger_inputs])
        champion_side = Champion.measured(
            found.ref,
            Path(found.ref.path).stat().st_size,
            {k: finite_or_none(v) for k, v in champion.scores().items()},
            before,
            tuple(missing),
        )
        challenger_side = Challenger(commit, dirty, size, metrics, after)
        ratios = {
            "latency_p50": round(after.p50_ms / max(before.p50_ms, 1e-9), 4),
            "size": round(size / max(champion_side.size_bytes, 1), 4),
        }
        decision, deltas = judge(champion, challenger, policy, ratios["latency_p50"], ratios["size"])
    return Comparison(
        metric=policy.metric,
        higher_is_better=policy.higher_is_better,
        policy=policy,
        holdout=holdout,
        challenger=challenger_side,
        champion=champion_side,
        validation=validation_summary(),
        decision="pass" if decision.passed else "block",
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=list(decision.checks),
        deltas=deltas,
        ratios=ratios,
        new_lineage=new_lineage,
    )


def production_champion(folder: Path) -> Found | None:
    """The production model (GTO model#prod) and its training split, from the DVC cache or remote, or rebuilt."""
    prod = production()
    if prod is None:
        return None
    model_path, train_path = folder / "champion.joblib", folder / "champion-train.parquet"
    source = fetch_output(prod.commit, MODEL_FILE, model_path)
    fetch_output(prod.commit, TRAIN_DATA, train_path)
    return Found(io.load_model(model_path), ModelRef.of_file(model_path, source, prod), io.read_table(train_path))


def lineage_crossing(params: Params, new_lineage: bool) -> str | None:
    """Why production is no champion for this workspace (another lineage, accepted with --new-lineage); None when
    it is one, or when there is none. Crossing lineages without --new-lineage is an error (exit 2)."""
    try:
        prod = production()
    except RegistryError:
        return None  # not a git repository: there is no production model to be of another lineage
    crossed = crossing(prod, params.data.lineage) if prod else None
    if crossed and not new_lineage:
        raise ProjectError(
            f"{crossed}: it is no champion for these data. Gate on the floor alone and start the new lineage: "
            "`make compare NEW_LINEAGE=1`, then `make promote NEW_LINEAGE=1`"
        )
    return crossed


def compare_command(args: argparse.Namespace) -> int:
    """`compare`: write reports/compare.json and reports/compare.md; exit 1 when the challenger is blocked."""
    params = load_params()
    crossed = lineage_crossing(params, args.new_lineage)
    source: ChampionSource = (lambda _folder: None) if crossed else production_champion
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        result = compare(params, source, Path(folder), crossed)
    result.plots = sorted(path.as_posix() for path in PLOTS_DIR.glob("*.png"))
    io.write_json(result.to_json(), COMPARE_FILE)
    io.write_text(render(result), COMPARE_REPORT)
    print(f"compare: {result.verdict} -> {COMPARE_REPORT}, {COMPARE_FILE}")
    return 0 if result.passed else 1
