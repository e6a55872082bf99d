"""`tune`: an Optuna search of train.params by cross-validation on the train split, deterministic with any number of
workers, resumable, and honest about what it finds (docs/tuning.md).

- Only the train split is read (params.TRAIN_DATA). Each trial fits train.py's whole Pipeline, preprocessing
  included, on k-1 folds and scores the k-th with the gate's metric (metrics.Predictions): nothing of a scored
  fold reaches the preprocessing it is scored through.
- The trial table depends on params.yaml alone: trials are asked `tune.batch` at a time, trial n by a TPE sampler
  seeded with (seed, n) that sees the trials finished before its batch (and, as constant liars, those asked
  before it in the batch); a trial's median pruner sees the same finished trials, never one running beside it.
  Workers only evaluate a batch, so 1 or 8 of them give the same table.
- The study is a journal file (reports/tune.journal). A trial a run leaves unfinished (killed, or cut at the
  timeout) is evaluated again, with the params it recorded, by the next run, which goes on to the budget.
- The best trial's score comes with its standard error over the folds; --apply writes its params into
  train.params only when they beat the current ones, scored on the same folds, by more than that (the
  one-standard-error rule), and says so either way.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold

from .. import io
from ..columns import feature_columns
from ..errors import ProjectError
from ..estimators import resolve_estimator
from ..metrics import METRICS, Predictions
from ..params import (
    PARAMS_FILE,
    TRAIN_DATA,
    TUNE_FILE,
    TUNE_JOURNAL,
    TUNE_PLOT,
    TUNE_REPORT,
    Params,
    SearchRange,
    edited_params,
    load_params,
)
from .train import train

State = Literal["complete", "pruned", "failed", "cut"]
CURRENT = "current "  # the study's user attribute of the current train.params' folds: this prefix + their JSON


@dataclass(frozen=True)
class Folds:
    """The train split as the search sees it: features, target, the k folds, and what a trial is scored with."""

    features: pd.DataFrame
    target: pd.Series
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    params: Params
    metric: str


@dataclass(frozen=True)
class Outcome:
    """A trial's fold scores and how it ended: all folds (complete), stopped by the pruner, failed, or cut at the
    deadline (left unfinished: the next run evaluates it again)."""

    scores: tuple[float, ...]
    state: State
    error: str = ""


@dataclass(frozen=True)
class Pruning:
    """What a trial's median pruner sees: the completed trials' running scores by fold, fixed for a batch."""

    maximize: bool
    history: tuple[tuple[float, ...], ...]
    startup_trials: int
    warmup_folds: int

    def judge(self) -> Callable[[int, float], bool]:
        """should_prune(fold, running score): Optuna's MedianPruner over a private study of the history."""
        quiet()
        pruner = optuna.pruners.MedianPruner(n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_folds - 1)
        study = optuna.create_study(direction="maximize" if self.maximize else "minimize", pruner=pruner)
        study.add_trials(
            optuna.trial.create_trial(value=running[-1], intermediate_values=dict(enumerate(running)))
            for running in self.history
        )
        trial = study.ask()

        def should_prune(fold: int, running: float) -> bool:
            trial.report(running, fold)
            return bool(trial.should_prune())

        return should_prune


def quiet() -> None:
    """Optuna's per-trial INFO lines off: the command prints its own summary."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def distributions(space: dict[str, SearchRange]) -> dict[str, BaseDistribution]:
    """tune.space as Optuna distributions: choices, whole numbers (both bounds whole), or real numbers."""
    found: dict[str, BaseDistribution] = {}
    for name, spec in space.items():
        if spec.choices is not None:
            found[name] = CategoricalDistribution(list(spec.choices))
        elif isinstance(spec.low, int) and isinstance(spec.high, int):
            found[name] = IntDistribution(spec.low, spec.high, log=spec.log)
        else:
            found[name] = FloatDistribution(float(spec.low or 0), float(spec.high or 0), log=spec.log)
    return found


def evaluated(arguments: dict[str, Any]) -> dict[str, Any]:
    """A trial's arguments as it is scored, and as params.yaml would hold them: real numbers to 3 significant
    digits (0.0123, not 0.012345678901), which neighbours the search cannot tell apart anyway."""
    return {k: float(f"{v:.3g}") if isinstance(v, float) else v for k, v in arguments.items()}


def with_arguments(params: Params, arguments: dict[str, Any]) -> Params:
    """params with train.params updated by `arguments` (the others keep their value)."""
    train_params = params.train.model_copy(update={"params": {**params.train.params, **arguments}})
    return params.model_copy(update={"train": train_params})


def make_folds(target: pd.Series, task: str, folds: int, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """k seeded folds of the train split, stratified by class for a classifier when every class can be."""
    if len(target) < 2 * folds:
        raise ProjectError(f"the train split has {len(target)} rows: too few for tune.folds {folds}")
    stratify = task == "classification" and int(target.value_counts().min()) >= folds
    splitter = (StratifiedKFold if stratify else KFold)(folds, shuffle=True, random_state=seed)
    return tuple(splitter.split(np.zeros(len(target)), target))


def running_means(scores: tuple[float, ...]) -> list[float]:
    """The cross-validated score after each fold: the mean of the folds scored so far (what the pruner compares)."""
    return [float(np.mean(scores[: i + 1])) for i in range(len(scores))]


def standard_error(scores: tuple[float, ...] | list[float]) -> float:
    """The standard error of the mean of the fold scores."""
    return float(np.std(scores, ddof=1) / math.sqrt(len(scores))) if len(scores) > 1 else math.inf


def evaluate(
    data: Folds, arguments: dict[str, Any], pruning: Pruning | None = None, deadline: float | None = None
) -> Outcome:
    """Cross-validate train.params updated by `arguments`: the training Pipeline fitted on each fold's other rows,
    scored on the fold; stopped early by the pruner, or before a fold that would start past `deadline`."""
    params = with_arguments(data.params, arguments)
    should_prune = pruning.judge() if pruning is not None else None
    scores: list[float] = []
    for fold, (fit_rows, score_rows) in enumerate(data.folds):
        if deadline is not None and time.monotonic() >= deadline:
            return Outcome(tuple(scores), "cut")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # a slow solver's score is a score all the same
                model = train(data.features.iloc[fit_rows], data.target.iloc[fit_rows], params)
                held_out = data.features.iloc[score_rows]
                value = Predictions.from_model(model, held_out, data.target.iloc[score_rows], params.task).scores()
        except (ProjectError, ValueError, TypeError, AttributeError) as exc:
            return Outcome(tuple(scores), "failed", f"{type(exc).__name__}: {exc}")
        score = value[data.metric]
        if not math.isfinite(score):
            return Outcome(tuple(scores), "failed", f"{data.metric} is undefined on fold {fold + 1}")
        scores.append(score)
        last = fold == len(data.folds) - 1
        if should_prune is not None and not last and should_prune(fold, float(np.mean(scores))):
            return Outcome(tuple(scores), "pruned")
    return Outcome(tuple(scores), "complete")


Job = tuple[Folds, dict[str, Any], Pruning | None, float | None]
Runner = Callable[[list[Job]], list[Outcome]]


@contextmanager
def evaluator(workers: int) -> Iterator[Runner]:
    """run(jobs) -> outcomes in job order: in this process with one worker, else in a pool of `workers` processes
    kept for the whole search (joblib's loky, which limits each worker's BLAS threads to its share of the CPUs)."""
    if workers == 1:
        yield lambda jobs: [evaluate(*job) for job in jobs]
        return
    from joblib import Parallel, delayed

    with Parallel(n_jobs=workers, backend="loky") as parallel:
        yield lambda jobs: list(parallel(delayed(evaluate)(*job) for job in jobs))


def sampler_for(seed: int, number: int) -> optuna.samplers.BaseSampler:
    """Trial `number`'s sampler: TPE seeded with (seed, number), so a trial's draw depends on its place alone, not on
    which process or run asks for it; trials asked and not finished count as constant liars."""
    trial_seed = int(np.random.SeedSequence([seed, number]).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=trial_seed, constant_liar=True)


def next_batch(
    study: optuna.Study, space: dict[str, BaseDistribution], size: int, budget: int, seed: int
) -> list[FrozenTrial]:
    """The trials to evaluate next: those a run left unfinished, then new ones up to the end of their batch (trial
    numbers [b * size, (b + 1) * size)), never past the budget; [] when the study holds `budget` finished trials."""
    trials = study.get_trials(deepcopy=False)
    running = [t for t in trials if t.state == TrialState.RUNNING]
    start = running[0].number if running else len(trials)
    end = min(start - start % size + size, budget)
    for number in range(len(trials), end):
        study.sampler = sampler_for(seed, number)
        study.ask(space)
    return [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]


def record(study: optuna.Study, frozen: FrozenTrial, outcome: Outcome) -> None:
    """Write a trial's outcome into the study: its running score per fold, its fold scores, its state."""
    if outcome.state == "cut":
        return  # left running: the next run evaluates it again
    trial = optuna.trial.Trial(study, frozen._trial_id)
    trial.set_user_attr("scores", list(outcome.scores))
    for fold, running in enumerate(running_means(outcome.scores)):
        trial.report(running, fold)
    if outcome.state == "complete":
        study.tell(trial, float(np.mean(outcome.scores)))
    elif outcome.state == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
    else:
        trial.set_user_attr("error", outcome.error)
        study.tell(trial, state=TrialState.FAIL)


def search(study: optuna.Study, data: Folds, run: Runner, budget: int, deadline: float) -> str:
    """Evaluate batches until the study holds `budget` finished trials ("trials") or the deadline passes
    ("timeout"); which one stopped it."""
    tune = data.params.tune
    space = distributions(tune.space)
    maximize = METRICS[data.metric].higher_is_better
    while time.monotonic() < deadline:
        batch = next_batch(study, space, tune.batch, budget, data.params.seed)
        if not batch:
            return "trials"
        pruning = None
        if tune.pruner == "median":
            completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            history = tuple(tuple(t.intermediate_values[k] for k in sorted(t.intermediate_values)) for t in completed)
            pruning = Pruning(maximize, history, tune.startup_trials, tune.warmup_folds)
        outcomes = run([(data, evaluated(t.params), pruning, deadline) for t in batch])
        for frozen, outcome in zip(batch, outcomes, strict=True):
            record(study, frozen, outcome)
    return "timeout"


def remembered(study: optuna.Study, run: Runner, jobs: dict[str, Job]) -> dict[str, tuple[float, ...]]:
    """The fold scores of named evaluations outside the search (the current params, the confirmation): kept in the
    study, so that a resumed run does not score them again; one that fails is an error."""
    missing = {name: job for name, job in jobs.items() if name not in study.user_attrs}
    outcomes = run(list(missing.values())) if missing else []
    for (name, _), outcome in zip(missing.items(), outcomes, strict=True):
        if outcome.state != "complete":
            raise ProjectError(f"{name.split(' {')[0]}: cannot be scored on the train split's folds: {outcome.error}")
        study.set_user_attr(name, list(outcome.scores))
    return {name: tuple(study.user_attrs[name]) for name in jobs}


def _named(what: str, arguments: dict[str, Any]) -> str:
    return f"{what} {json.dumps(arguments, sort_keys=True, default=str)}"


def current_arguments(params: Params) -> dict[str, Any]:
    """The searched arguments as train.params sets them (one it leaves out keeps the estimator's default)."""
    return {name: params.train.params[name] for name in params.tune.space if name in params.train.params}


def no_skill(params: Params) -> Params:
    """params with the task's dummy estimator (the class prior, or the mean): a model that learned nothing."""
    return params.model_copy(update={"train": params.train.model_copy(update={"estimator": "dummy", "params": {}})})


@dataclass(frozen=True)
class Decision:
    """The best trial against the current train.params, both scored again on fresh folds (those of seed + 1: the best
    of many trials is optimistic on the folds it was picked by), with a model that learned nothing beside them."""

    metric: str
    maximize: bool
    current_params: dict[str, Any]
    best_params: dict[str, Any] | None
    current: tuple[float, ...]  # fresh folds
    best: tuple[float, ...] | None
    no_skill: tuple[float, ...]
    search_current: tuple[float, ...]  # the search's folds
    search_best: tuple[float, ...] | None

    def _gain(self, better: tuple[float, ...], worse: tuple[float, ...]) -> float:
        gain = float(np.mean(better) - np.mean(worse))
        return gain if self.maximize else -gain

    @property
    def improvement(self) -> float | None:
        """How much better the best params score than the current ones on fresh folds (positive: better)."""
        return self._gain(self.best, self.current) if self.best is not None else None

    @property
    def skill(self) -> float | None:
        """How much better the best params score than a model that learned nothing, on fresh folds."""
        return self._gain(self.best, self.no_skill) if self.best is not None else None

    @property
    def best_se(self) -> float | None:
        """The standard error of the best params' score on fresh folds."""
        return standard_error(self.best) if self.best is not None else None

    @property
    def changed(self) -> bool:
        """Whether the best trial's params differ from the current train.params."""
        return self.best_params is not None and self.best_params != self.current_params

    @property
    def justified(self) -> bool:
        """The one-standard-error rule: new params that beat both the current params and a model that learned
        nothing by more than one standard error of their score, on fresh folds."""
        se = self.best_se if self.best_se is not None else math.inf
        return self.changed and (self.improvement or 0.0) > se and (self.skill or 0.0) > se

    def sentence(self, applied: bool) -> str:
        """What the search found and what it did about it, in one line."""
        if self.best is None or self.best_params is None or self.search_best is None:
            return "no trial completed: train.params unchanged"
        if not self.changed:
            return (
                f"the best trial is the current train.params ({self.metric} {np.mean(self.current):.4f} ± "
                f"{standard_error(self.current):.4f} on fresh folds): unchanged"
            )
        change = ", ".join(
            f"{k} {self.current_params.get(k)!r} -> {v!r}"
            for k, v in self.best_params.items()
            if self.current_params.get(k) != v
        )
        found = (
            f"best {self.metric} {np.mean(self.best):.4f} ± {self.best_se:.4f} (standard error) on fresh folds "
            f"({np.mean(self.search_best):.4f} on the folds it was picked by) vs {np.mean(self.current):.4f} for the "
            f"current train.params: {self.improvement:+.4f}"
        )
        if (self.improvement or 0.0) <= (self.best_se or 0.0):
            return f"{found}, within one standard error: train.params unchanged ({change} is no proven gain)"
        if not self.justified:
            return (
                f"{found}, but within one standard error of a model that learned nothing "
                f"({np.mean(self.no_skill):.4f}): train.params unchanged ({change} is no proven gain)"
            )
        if applied:
            return f"{found}, more than one standard error: train.params written ({change})"
        return f"{found}, more than one standard error: `make tune ARGS=--apply` writes {change}"


def decide(study: optuna.Study, data: Folds, run: Runner, search_current: tuple[float, ...]) -> Decision:
    """The best completed trial (the lowest number among equals), the current train.params and a model that learned
    nothing, scored on fresh folds."""
    params = data.params
    maximize = METRICS[data.metric].higher_is_better
    current = current_arguments(params)
    fresh = replace(data, folds=make_folds(data.target, params.task, params.tune.folds, params.seed + 1))
    jobs: dict[str, Job] = {
        _named("the current train.params", current): (fresh, current, None, None),
        "a model that learned nothing": (replace(fresh, params=no_skill(params)), {}, None, None),
    }
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    top = None
    if completed:
        sign = 1.0 if maximize else -1.0
        top = max(completed, key=lambda t: (sign * float(t.value or 0.0), -t.number))
        jobs[_named("the best trial's params", evaluated(top.params))] = (fresh, evaluated(top.params), None, None)
    scores = list(remembered(study, run, jobs).values())
    return Decision(
        metric=data.metric,
        maximize=maximize,
        current_params=dict(params.train.params),
        best_params={**params.train.params, **evaluated(top.params)} if top else None,
        current=scores[0],
        best=scores[2] if top else None,
        no_skill=scores[1],
        search_current=search_current,
        search_best=tuple(top.user_attrs["scores"]) if top else None,
    )


def study_name(params: Params, data_digest: str) -> str:
    """The study's name: a digest of everything a trial's score depends on (the search's settings but its budget,
    the estimator and its fixed arguments, the seed, the metric, the train split's bytes)."""
    fixed = {k: v for k, v in params.train.params.items() if k not in params.tune.space}
    setup = {
        "task": params.task,
        "seed": params.seed,
        "target": params.data.target,
        "id_column": params.data.id_column,
        "estimator": params.train.estimator,
        "fixed": fixed,
        "one_hot": params.train.one_hot.model_dump(mode="json"),
        "metric": params.gate_metric,
        "tune": params.tune.model_dump(mode="json", exclude={"trials", "timeout", "workers"}),
        "data": data_digest,
    }
    return "tune-" + hashlib.sha256(json.dumps(setup, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def single_run(journal: Path) -> Iterator[None]:
    """Hold the journal for this run alone (an advisory lock the system releases when the process dies, so a killed
    run never blocks the next one): two runs would both evaluate the trials the other has running."""
    import fcntl

    journal.parent.mkdir(parents=True, exist_ok=True)
    with open(journal.with_name(journal.name + ".run"), "w", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ProjectError(f"another tune is running on {journal}: wait for it to finish") from None
        yield


def open_study(journal: Path, name: str, maximize: bool) -> tuple[optuna.Study, bool]:
    """The study `name` in the journal (created when new; a journal of another study is replaced), and whether it is
    a new one. A last entry half-written by a killed run is dropped first."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if journal.is_file():
        text = journal.read_bytes()
        if text and not text.endswith(b"\n"):
            journal.write_bytes(text[: text.rfind(b"\n") + 1])

    def storage() -> JournalStorage:
        return JournalStorage(JournalFileBackend(str(journal), JournalFileOpenLock(f"{journal}.lock")))

    names = optuna.get_all_study_names(storage()) if journal.is_file() else []
    if names and name not in names:
        journal.unlink()
    study = optuna.create_study(
        study_name=name,
        storage=storage(),
        direction="maximize" if maximize else "minimize",
        pruner=optuna.pruners.NopPruner(),  # pruning is decided per trial, from a fixed history (Pruning)
        load_if_exists=True,
    )
    return study, name not in names


def trial_table(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial in order: number, state, the arguments it was scored with, its score (the mean of the folds it
    scored), that score's standard error (complete trials), the fold scores, and why it failed."""
    states = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "unfinished",
    }
    rows = []
    for trial in study.get_trials(deepcopy=False):
        scores = list(trial.user_attrs.get("scores", []))
        complete = trial.state == TrialState.COMPLETE
        row: dict[str, Any] = {
            "number": trial.number,
            "state": states.get(trial.state, trial.state.name.lower()),
            "params": evaluated(trial.params),
            "score": float(np.mean(scores)) if scores else None,
            "se": standard_error(scores) if complete and len(scores) > 1 else None,
            "folds": scores,
        }
        if "error" in trial.user_attrs:
            row["error"] = trial.user_attrs["error"]
        rows.append(row)
    return rows


def importances(study: optuna.Study) -> dict[str, float]:
    """Each searched argument's share of the score's variation over the completed trials (Optuna's default
    evaluator, PED-ANOVA); {} with too few completed trials to tell."""
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varied = {name for name in study.best_trial.params if len({str(t.params.get(name)) for t in completed}) > 1}
    if len(completed) < 3 or not varied:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a too-small study warns, and is then reported as it is
            found = optuna.importance.get_param_importances(study, params=sorted(varied))
    except (ValueError, RuntimeError):
        return {}
    return {name: round(float(value), 4) for name, value in found.items()}


def tune_report(study: optuna.Study, params: Params, decision: Decision, applied: bool, stopped: str) -> dict[str, Any]:
    """reports/tune.json: the decision, its numbers and the trial table (no times: the same params give the same
    file)."""
    table = trial_table(study)
    counts = {state: sum(row["state"] == state for row in table) for state in ("complete", "pruned", "failed")}
    best, search_best = decision.best, decision.search_best
    return {
        "metric": decision.metric,
        "higher_is_better": decision.maximize,
        "best_params": decision.best_params,
        "best_score": float(np.mean(best)) if best else None,
        "best_score_se": decision.best_se,
        "current_params": decision.current_params,
        "current_score": float(np.mean(decision.current)),
        "current_score_se": standard_error(decision.current),
        "no_skill_score": float(np.mean(decision.no_skill)),
        "improvement": decision.improvement,
        "justified": decision.justified,
        "applied": applied,
        "decision": decision.sentence(applied),
        # the scores the search saw (the trials' folds): the best's is optimistic, picked as the best of many
        "search": {
            "best_score": float(np.mean(search_best)) if search_best else None,
            "best_score_se": standard_error(search_best) if search_best else None,
            "current_score": float(np.mean(decision.search_current)),
            "current_score_se": standard_error(decision.search_current),
            "folds_seed": params.seed,
        },
        "confirmation_folds_seed": params.seed + 1,
        "trials": table,
        **counts,
        "unfinished": sum(row["state"] == "unfinished" for row in table),
        "importance": importances(study) if best else {},
        "seed": params.seed,
        "folds": params.tune.folds,
        "budget": {"trials": params.tune.trials, "timeout": params.tune.timeout, "stopped_by": stopped},
        "space": {name: spec.model_dump(mode="json", exclude_none=True) for name, spec in params.tune.space.items()},
        "study": study.study_name,
        "journal": TUNE_JOURNAL.as_posix(),
        "train_data": TRAIN_DATA.as_posix(),
    }


def render(report: dict[str, Any]) -> str:
    """reports/tune.md: the decision, the confirmation on fresh folds, and the ten best trials."""
    metric, sign = report["metric"], 1.0 if report["higher_is_better"] else -1.0
    space = list(report["space"])
    best = report["best_params"] or {}
    lines = [
        f"## Tuning — {'train.params written' if report['applied'] else 'train.params unchanged'}",
        "",
        report["decision"] + ".",
        "",
        f"On fresh folds (seed {report['confirmation_folds_seed']}), never used to pick a trial:",
        "",
        f"| params | {metric} | standard error |",
        "|---|---:|---:|",
    ]
    if report["best_score"] is not None:
        arguments = ", ".join(f"{k}={best.get(k)!r}" for k in space)
        lines.append(f"| best trial ({arguments}) | {report['best_score']:.4f} | {report['best_score_se']:.4f} |")
    arguments = ", ".join(f"{k}={report['current_params'].get(k)!r}" for k in space)
    lines += [
        f"| current ({arguments}) | {report['current_score']:.4f} | {report['current_score_se']:.4f} |",
        f"| a model that learned nothing | {report['no_skill_score']:.4f} | |",
        "",
        f"The search: {len(report['trials'])} trials ({report['complete']} complete, {report['pruned']} pruned by the "
        f"median pruner, {report['failed']} failed, {report['unfinished']} unfinished), {report['folds']}-fold "
        f"cross-validation of {metric} on `{report['train_data']}` only, seed {report['seed']}. The best ten:",
        "",
        f"| trial | {metric} | standard error | params |",
        "|---:|---:|---:|---|",
    ]
    completed = [row for row in report["trials"] if row["state"] == "complete"]
    for row in sorted(completed, key=lambda r: (-sign * r["score"], r["number"]))[:10]:
        arguments = ", ".join(f"{k}={v!r}" for k, v in row["params"].items())
        lines.append(f"| {row['number']} | {row['score']:.4f} | {row['se']:.4f} | {arguments} |")
    if report["importance"]:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in report["importance"].items())
        lines += ["", f"Importance of the searched params (PED-ANOVA): {shares}."]
    lines += ["", f"![{metric} by trial, and the params' importance](tune.png)", ""]
    return "\n".join(lines)


def save_plot(report: dict[str, Any], path: Path) -> None:
    """reports/tune.png: each trial's score (a pruned one's at its last fold) with the best so far and the current
    params' score ± one standard error, all on the search's folds; the params' importance beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric, maximize = report["metric"], report["higher_is_better"]
    fig, (scores_ax, importance_ax) = plt.subplots(1, 2, figsize=(10, 4), width_ratios=[2, 1])
    for state, marker in (("complete", "o"), ("pruned", "x")):
        rows = [row for row in report["trials"] if row["state"] == state and row["score"] is not None]
        scores_ax.scatter([r["number"] for r in rows], [r["score"] for r in rows], marker=marker, label=state)
    completed = [row for row in report["trials"] if row["state"] == "complete"]
    if completed:
        best = (np.maximum if maximize else np.minimum).accumulate([r["score"] for r in completed])
        scores_ax.step([r["number"] for r in completed], best, where="post", label="best so far")
    current, se = report["search"]["current_score"], report["search"]["current_score_se"]
    scores_ax.axhline(current, color="grey", linestyle="--", label="current train.params ± 1 SE")
    scores_ax.axhspan(current - se, current + se, color="grey", alpha=0.15)
    scores_ax.set(xlabel="trial", ylabel=f"{metric} (cross-validated)", title=f"{metric} by trial")
    scores_ax.legend(fontsize="small")
    names = list(report["importance"])[::-1]
    importance_ax.barh(names, [report["importance"][n] for n in names])
    importance_ax.set(xlabel="importance (PED-ANOVA)", title="searched params", xlim=(0, 1))
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def load_folds(params: Params) -> tuple[Folds, str]:
    """The train split and its folds (never the test split), and a digest of its bytes."""
    if not TRAIN_DATA.is_file():
        raise ProjectError(f"{TRAIN_DATA} not found: run the pipeline first (make pipeline)")
    frame = io.read_table(TRAIN_DATA)
    columns = feature_columns(frame.columns, params.data.target, params.data.id_column)
    target = frame[params.data.target]
    folds = make_folds(target, params.task, params.tune.folds, params.seed)
    digest = hashlib.sha256(TRAIN_DATA.read_bytes()).hexdigest()
    return Folds(frame[columns], target, folds, params, params.gate_metric), digest


def check_space(params: Params) -> None:
    """tune.space names arguments of train.estimator, at least one."""
    if not params.tune.space:
        raise ProjectError("tune.space is empty: list the arguments of train.estimator to search (docs/tuning.md)")
    estimator = resolve_estimator(params.train.estimator, params.task)()
    accepted = estimator.get_params(deep=False)
    unknown = [name for name in params.tune.space if name not in accepted]
    if unknown:
        raise ProjectError(
            f"tune.space: {type(estimator).__name__} has no argument {unknown[0]!r} (it takes {', '.join(accepted)})"
        )


def default_workers(batch: int) -> int:
    """One worker per CPU this process may use, at most a batch."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(batch, cpus))


def apply(decision: Decision) -> list[str]:
    """Write the best params into train.params (comments and everything else kept); the changed lines."""
    old, new, _ = edited_params({"train.params": decision.best_params})
    io.write_text(new, PARAMS_FILE)
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def tune_command(args: argparse.Namespace) -> int:
    """`tune`: search train.params, write reports/tune.json, tune.md and tune.png; with --apply, train.params when
    the best beats the current params by more than one standard error."""
    quiet()
    params = load_params()
    overrides = {k: v for k, v in (("trials", args.trials), ("timeout", args.timeout)) if v is not None}
    if overrides:
        params = params.model_copy(update={"tune": params.tune.model_copy(update=overrides)})
    tune = params.tune
    check_space(params)
    workers = args.workers or tune.workers or default_workers(tune.batch)
    started = time.monotonic()
    data, digest = load_folds(params)
    current = current_arguments(params)
    with single_run(TUNE_JOURNAL):
        study, new = open_study(TUNE_JOURNAL, study_name(params, digest), METRICS[data.metric].higher_is_better)
        finished = len([t for t in study.get_trials(deepcopy=False) if t.state.is_finished()])
        print(
            f"tune: {'a new study' if new else f'resuming the study ({finished} trials finished)'} in {TUNE_JOURNAL}: "
            f"{tune.trials} trials, {tune.folds}-fold {data.metric} on {TRAIN_DATA}, batches of {tune.batch} on "
            f"{workers} worker{'s' if workers > 1 else ''}, at most {tune.timeout:g} s",
            flush=True,
        )
        with evaluator(workers) as run:
            name = _named("the current train.params", current)
            search_current = remembered(study, run, {f"search: {name}": (data, current, None, None)})
            stopped = search(study, data, run, tune.trials, started + tune.timeout)
            decision = decide(study, data, run, next(iter(search_current.values())))
        applied = bool(args.apply and decision.justified)
        changes = apply(decision) if applied else []
        report = tune_report(study, params, decision, applied, stopped)
    io.write_json(report, TUNE_FILE)
    io.write_text(render(report), TUNE_REPORT)
    save_plot(report, TUNE_PLOT)
    print(
        f"tune: {len(report['trials'])} trials ({report['pruned']} pruned, {report['failed']} failed, "
        f"{report['unfinished']} unfinished) in {time.monotonic() - started:.1f} s, stopped by "
        f"{'the timeout' if stopped == 'timeout' else 'the trials budget'}"
    )
    print(f"tune: {report['decision']}")
    for line in changes:
        print(f"  {PARAMS_FILE}: {line}")
    if changes:
        print("tune: train with them: make pipeline (then make compare)")
    print(f"tune: -> {TUNE_FILE}, {TUNE_REPORT}, {TUNE_PLOT}")
    return 0
