"""Whether the monitor workflow retrains: evidence first, then a cool-down.

Drift says the traffic changed, not that a new model would do better, and a drift that lasts (a new season, a
new market) is found again every day. So the monitor workflow (drift.yml) dispatches retrain.yml only
- on **degraded** live performance: the production model is measurably worse on labelled traffic; or
- on **drift found by `monitor.retrain_after_runs` consecutive runs**: it persists, it is not one odd day;
and never within `monitor.retrain_cooldown` of the last retrain (the newest run of retrain.yml, however it was
started: its pull request needs time to be gated, merged and deployed). Performance only *estimated* degraded
(before the labels) is no evidence here: monitor.md reports it, nothing is retrained on it.

The runs are counted in a history of verdicts, one JSON line per run (`--history`): this run's verdict, from
reports/monitor.json, is added to it. A run that failed before its verdict adds nothing: it neither extends nor
breaks a streak. The workflow keeps the file in the GitHub Actions cache between runs; a lost history (a cache
unused for 7 days is evicted) starts the count again, which delays a retrain on drift and never causes one.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .. import io
from ..errors import ProjectError
from ..params import MONITOR_FILE, REPORTS_DIR, MonitorParams, load_params

RETRAIN_FILE = REPORTS_DIR / "retrain.json"
KEEP_RUNS = 100  # the history keeps the newest runs only: a streak longer than this changes no decision


@dataclass(frozen=True)
class RunVerdict:
    """What one monitor run found: when it ran, drift, degraded live performance, and the run (a URL, or empty)."""

    time: datetime
    drift: bool
    degraded: bool
    run: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form: an ISO 8601 time."""
        return {"time": self.time.isoformat(), "drift": self.drift, "degraded": self.degraded, "run": self.run}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunVerdict:
        """A verdict from its JSON form; KeyError, TypeError or ValueError when it is not one."""
        return cls(aware(str(data["time"])), bool(data["drift"]), bool(data["degraded"]), str(data.get("run", "")))


@dataclass(frozen=True)
class RetrainDecision:
    """Whether to retrain, why (one line), and the figures behind it."""

    retrain: bool
    reason: str  # the whole sentence: the evidence and the cool-down
    evidence: str  # the evidence in a few words ("degraded live performance", "data drift in 3 consecutive runs")
    drift_runs: int  # consecutive runs, this one included, that found drift
    last_retrain: datetime | None
    not_before: datetime | None  # when a cool-down holds evidence back: the first time a retrain may start

    @property
    def exit_code(self) -> int:
        """0 = retrain (go), 1 = do not (the project's gate convention)."""
        return 0 if self.retrain else 1

    def to_json(self) -> dict[str, Any]:
        """The JSON form (reports/retrain.json): ISO 8601 times or null."""
        return {
            "retrain": self.retrain,
            "reason": self.reason,
            "evidence": self.evidence,
            "drift_runs": self.drift_runs,
            "last_retrain": None if self.last_retrain is None else self.last_retrain.isoformat(),
            "not_before": None if self.not_before is None else self.not_before.isoformat(),
        }


def aware(text: str) -> datetime:
    """An ISO 8601 time (a trailing Z allowed); one without a zone is UTC."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def drift_streak(history: Sequence[RunVerdict]) -> int:
    """How many of the newest runs in a row found drift."""
    count = 0
    for verdict in reversed(history):
        if not verdict.drift:
            break
        count += 1
    return count


def decide(
    history: Sequence[RunVerdict],
    last_retrain: datetime | None,
    after_runs: int,
    cooldown: timedelta,
    cooldown_text: str,
) -> RetrainDecision:
    """The decision after the newest run of `history` (this run, its last item): evidence, then the cool-down from
    `last_retrain` (None: no retrain yet)."""
    if not history:
        raise ValueError("no run to decide on")
    now = history[-1].time
    streak = drift_streak(history)
    runs = f"{streak} consecutive run{'s' if streak != 1 else ''}"
    if history[-1].degraded:
        evidence = "degraded live performance"
    elif streak >= after_runs:
        evidence = f"data drift in {runs}"
    else:
        why = (
            f"data drift in {runs}, fewer than monitor.retrain_after_runs ({after_runs})"
            if streak
            else "no drift and no degraded live performance"
        )
        return RetrainDecision(False, f"no retrain: {why}", "", streak, last_retrain, None)
    if last_retrain is not None and now < last_retrain + cooldown:
        not_before = last_retrain + cooldown
        reason = (
            f"no retrain yet: {evidence}, but the last retrain started {last_retrain:%Y-%m-%d %H:%M} UTC, within "
            f"monitor.retrain_cooldown ({cooldown_text}): not before {not_before:%Y-%m-%d %H:%M} UTC"
        )
        return RetrainDecision(False, reason, evidence, streak, last_retrain, not_before)
    since = "no earlier retrain" if last_retrain is None else f"the last one started {last_retrain:%Y-%m-%d %H:%M} UTC"
    return RetrainDecision(True, f"retrain: {evidence} ({since})", evidence, streak, last_retrain, None)


def latest_retrain(runs: Sequence[dict[str, Any]]) -> datetime | None:
    """The newest start among workflow runs (`gh run list --json createdAt`); None without one."""
    times = [aware(str(run["createdAt"])) for run in runs if run.get("createdAt")]
    return max(times) if times else None


def with_run(history: Sequence[RunVerdict], verdict: RunVerdict) -> list[RunVerdict]:
    """The history with this run's verdict last (replacing a verdict of the same time: a step run again), at most
    KEEP_RUNS long."""
    runs = [run for run in history if run.time != verdict.time]
    return [*runs, verdict][-KEEP_RUNS:]


def read_history(path: Path) -> list[RunVerdict]:
    """The run history (JSON lines); none when the file does not exist."""
    if not path.is_file():
        return []
    history = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            history.append(RunVerdict.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProjectError(
                f"{path}:{number} is not a run verdict ({exc}): delete the file (in CI the cache monitor-history-*)"
            ) from None
    return sorted(history, key=lambda run: run.time)


def read_retrains(path: Path | None) -> datetime | None:
    """The last retrain's start from `gh run list --workflow retrain.yml --json createdAt` saved in `path` (an empty
    file: no run)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
        runs = json.loads(text) if text else []
        if not isinstance(runs, list):
            raise ValueError("not a list of runs")
        return latest_retrain(runs)
    except FileNotFoundError:
        raise ProjectError(f"--retrains: {path} not found") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise ProjectError(f"--retrains: {path} is not the JSON of `gh run list --json createdAt`: {exc}") from None


def this_run(report: Any, run: str) -> RunVerdict:
    """This run's verdict from reports/monitor.json: its findings at the end of its window."""
    try:
        findings = list(report["findings"])
        return RunVerdict(aware(str(report["window"]["until"])), "drift" in findings, "degraded" in findings, run)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProjectError(f"{MONITOR_FILE} has no findings and window ({exc}): run `make monitor` first") from None


def retrain_decision_command(args: argparse.Namespace) -> int:
    """`retrain-decision`: this monitor run's verdict added to the history; exit 0 = retrain, 1 = do not."""
    settings: MonitorParams = load_params(estimator=False).monitor
    verdict = this_run(io.read_json(MONITOR_FILE), args.run or "")
    history_path = Path(args.history) if args.history else None
    history = with_run(read_history(history_path) if history_path else [], verdict)
    decision = decide(
        history,
        read_retrains(Path(args.retrains) if args.retrains else None),
        settings.retrain_after_runs,
        settings.retrain_cooldown_length,
        settings.retrain_cooldown,
    )
    if history_path is not None:
        io.write_text("".join(json.dumps(run.to_json()) + "\n" for run in history), history_path)
    io.write_json(decision.to_json(), RETRAIN_FILE)
    print(f"retrain-decision: {decision.reason}")
    return decision.exit_code
