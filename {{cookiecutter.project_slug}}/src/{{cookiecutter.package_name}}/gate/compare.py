"""The `compare` command: the workspace's model (challenger) against production's (champion) -> compare.json/.md.

Both score the challenger's test rows that the champion never trained on (holdout.py), each with the columns
it was trained on (the champion on its own test rows when the holdout lacks some of its columns). The champion's
commit sets the bar (policy.py: its params.yaml's gate, tightened where the candidate is stricter; loosened only
with a recorded override); scoring.py measures, slices.py judges each slice, decision.py judges, card.py compares
the two model cards, report.py writes the Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .. import io
from ..columns import feature_columns
from ..contract import Contract, load_contract
from ..errors import ProjectError, RegistryError
from ..metrics import Predictions
from ..params import (
    MODEL_CARD_FILE,
    MODEL_FILE,
    PLOTS_DIR,
    REPORTS_DIR,
    TEST_DATA,
    TRAIN_DATA,
    TUNE_FILE,
    VALIDATION_FILE,
    Params,
    load_params,
    parse_params,
)
from ..registry import (
    ModelRef,
    crossing,
    fetch_output,
    file_digest,
    git,
    head_commit,
    is_dirty,
    params_text_at,
    production,
)
from .card import card_at, headline, load_card
from .decision import (
    Challenger,
    Champion,
    Check,
    Comparison,
    Holdout,
    PolicySource,
    finite_or_none,
    judge,
    slice_checks,
)
from .holdout import OwnRows, rows_in_champion_test, unseen_rows
from .policy import GatePolicy, Override, binding_policy, loosenings
from .report import render, training_lines
from .scoring import latency
from .slices import SliceJudgement, judge_slices, make_slices, slice_columns

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
    """The champion as the gate needs it: the fitted model, which one it is, its splits, its own gate policy and
    its model card (None when its commit has none)."""

    model: Any
    ref: ModelRef
    train: pd.DataFrame
    test: pd.DataFrame
    policy: GatePolicy
    card: dict[str, Any] | None = None


def _contract() -> Contract | None:
    try:
        return load_contract()
    except ProjectError:
        return None


def gate_slices(
    frame: pd.DataFrame, champion: Predictions, challenger: Predictions, policy: GatePolicy, params: Params
) -> SliceJudgement:
    """The slice gate on the holdout: the slices of the binding policy's columns, both models on each."""
    contract = _contract()
    columns = slice_columns(frame, policy.slices, params.data.target, params.data.id_column, contract)
    found = make_slices(frame, columns, policy.slices, contract)
    return judge_slices(
        champion,
        challenger,
        found,
        columns,
        policy.metric,
        policy.slices,
        policy.bootstrap,
        policy.confidence,
        policy.seed,
    )


def card_headline(found: Found | None) -> dict[str, Any] | None:
    """The model cards' headline: this model's card (when it is this model's) against the champion's."""
    if found is None:
        return None
    try:
        mine: dict[str, Any] | None = load_card(MODEL_CARD_FILE)
    except ProjectError:
        mine = None
    if mine is not None and mine["model"]["sha256"] != file_digest(MODEL_FILE, "sha256"):
        return {"note": f"`{MODEL_CARD_FILE}` describes other model bytes than `{MODEL_FILE}` (run `make pipeline`)"}
    return headline(mine, found.card)


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


def own_columns_check(own: OwnRows, rows: int, missing: list[str], policy: GatePolicy, override: bool) -> Check:
    """Whether the champion, whose columns the holdout partly lacks, is scored on its own test rows: enough of the
    holdout's rows were found there, or an override lets it be scored with those columns imputed."""
    name, found = "champion scored on its own columns", int(own.mask.sum())
    what = f"{found} of {rows} holdout rows in its own test split (by {own.matched_by})"
    limit = f"≥ {policy.min_holdout_rows} rows"
    if found >= policy.min_holdout_rows:
        return Check(name, True, what, limit, "")
    lacking = ", ".join(missing)
    if override:
        return Check(name, True, f"{what}; {lacking} imputed", "an override", "")
    failure = (
        f"the challenger's data lacks the champion's columns {lacking}, and only {what}: the champion cannot be scored"
        " on its own columns; to compare anyway, record an override (a `Gate-Override: <why>` trailer, OVERRIDE=)"
    )
    return Check(name, False, what, limit, failure)


def compare(
    params: Params,
    champion_source: ChampionSource,
    folder: Path,
    new_lineage: str | None = None,
    override: Override | None = None,
) -> Comparison:
    """Everything the gate measured and decided (reports/compare.json). The champion's policy sets the bar
    (policy.py); `new_lineage` (why production is no champion) judges the challenger on the floor alone."""
    candidate = GatePolicy.from_params(params)
    found = champion_source(folder)
    policy = binding_policy(candidate, found.policy if found else None, override)
    source = PolicySource(
        candidate,
        found.policy if found else None,
        tuple(loosenings(candidate, found.policy)) if found else (),
        override,
    )
    frame, holdout = holdout_for(io.read_table(TEST_DATA), found, policy, params.data.id_column)
    default = feature_columns(frame.columns, params.data.target, params.data.id_column)
    challenger_model = io.load_model(MODEL_FILE)
    commit, dirty = _git_state()
    size = MODEL_FILE.stat().st_size
    if found is None:
        inputs = model_inputs(challenger_model, frame, default)[0]
        challenger = _score(challenger_model, inputs, frame[params.data.target], params.task, "challenger")
        metrics = {k: finite_or_none(v) for k, v in challenger.scores().items()}
        no_champion = f"no champion: {new_lineage} (--new-lineage)" if new_lineage else "no production model yet"
        decision, deltas = judge(None, challenger, policy, no_champion=no_champion)
        challenger_side, champion_side, ratios = Challenger(commit, dirty, size, metrics), None, None
        sliced = None
    else:
        champion_inputs, missing = model_inputs(found.model, frame, default)
        checks: list[Check] = []
        if missing:  # never scored on imputed columns: its own test rows, when the holdout's can be found there
            own = rows_in_champion_test(frame, found.test, params.data.id_column)
            checks.append(own_columns_check(own, len(frame), missing, policy, override is not None))
            if checks[-1].passed and own.mask.sum() >= policy.min_holdout_rows:
                frame = frame[own.mask.to_numpy()].reset_index(drop=True)
                champion_inputs = model_inputs(found.model, own.features, default)[0]
                holdout = replace(holdout, rows=len(frame))
        actual = frame[params.data.target]
        challenger_inputs = model_inputs(challenger_model, frame, default)[0]
        challenger = _score(challenger_model, challenger_inputs, actual, params.task, "challenger")
        metrics = {k: finite_or_none(v) for k, v in challenger.scores().items()}
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
        sliced = gate_slices(frame, champion, challenger, policy, params)
        decision, deltas = judge(
            champion,
            challenger,
            policy,
            ratios["latency_p50"],
            ratios["size"],
            checks_made=checks,
            checks_after=slice_checks(sliced),
        )
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
        policy_source=source,
        slices=sliced,
        card=card_headline(found),
    )


def production_champion(folder: Path) -> Found | None:
    """The production model (GTO model#prod), its splits (from the DVC cache or remote, or rebuilt) and the gate
    policy of its commit's params.yaml."""
    prod = production()
    if prod is None:
        return None
    paths = {path: folder / f"champion-{path.name}" for path in (MODEL_FILE, TRAIN_DATA, TEST_DATA)}
    sources = [fetch_output(prod.commit, path, target) for path, target in paths.items()]
    text = params_text_at(prod.commit)
    policy = GatePolicy.from_params(parse_params(text, f"params.yaml at {prod.commit[:7]}", estimator=False))
    return Found(
        io.load_model(paths[MODEL_FILE]),
        ModelRef.of_file(paths[MODEL_FILE], sources[0], prod),
        io.read_table(paths[TRAIN_DATA]),
        io.read_table(paths[TEST_DATA]),
        policy,
        card_at(prod.commit, prod.version),
    )


def lineage_crossing(params: Params, new_lineage: bool) -> str | None:
    """Why production is no champion for this workspace (another lineage, accepted with --new-lineage or an
    override); None when it is one, or when there is none. Crossing lineages otherwise is an error (exit 2)."""
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


def override_of(args: argparse.Namespace) -> Override | None:
    """The override the command line records (--override WHY [--override-by WHO]); None without one."""
    if not args.override:
        return None
    return Override(args.override, args.override_by or _git_identity())


def _git_identity() -> str:
    try:
        return f"{git('config', 'user.name')} <{git('config', 'user.email')}>"
    except RegistryError:
        return "unknown"


def training_notes(params: Params, result: Comparison) -> list[str]:
    """compare.md's lines on training: the estimator and train.params of the champion's commit (its params.yaml, read
    leniently) against this workspace's, and the tuning report (reports/tune.json) when there is one."""
    before = None
    commit = result.champion.commit if result.champion is not None else None
    if commit:
        try:
            raw = io.parse_yaml(params_text_at(commit))
        except (RegistryError, yaml.YAMLError):
            raw = None
        train = raw.get("train") if isinstance(raw, dict) else None
        before = train if isinstance(train, dict) else None
    try:
        tuning = io.read_json(TUNE_FILE) if TUNE_FILE.is_file() else None
    except ProjectError:
        tuning = None
    after = {"estimator": params.train.estimator, "params": params.train.params}
    return training_lines(before, after, commit, tuning if isinstance(tuning, dict) else None)


def compare_command(args: argparse.Namespace) -> int:
    """`compare`: write reports/compare.json and reports/compare.md; exit 1 when the challenger is blocked."""
    params = load_params()
    override = override_of(args)
    crossed = lineage_crossing(params, args.new_lineage or override is not None)
    source: ChampionSource = (lambda _folder: None) if crossed else production_champion
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        result = compare(params, source, Path(folder), crossed, override)
    result.plots = sorted(path.as_posix() for path in PLOTS_DIR.glob("*.png"))
    io.write_json(result.to_json(), COMPARE_FILE)
    io.write_text(render(result, training_notes(params, result)), COMPARE_REPORT)
    print(f"compare: {result.verdict} -> {COMPARE_REPORT}, {COMPARE_FILE}")
    return 0 if result.passed else 1
