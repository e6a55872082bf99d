"""The retrain decision: labelled evidence at once, drift only when it persists, never within the cool-down."""

from datetime import UTC, datetime, timedelta

import pytest

from {{ cookiecutter.package_name }}.monitor.retraining import RunVerdict, decide, drift_streak, latest_retrain, with_run

NOW = datetime(2026, 12, 6, 5, 23, tzinfo=UTC)
WEEK = timedelta(days=7)


def runs(*found: str) -> list[RunVerdict]:
    """Daily runs ending NOW, each finding "drift", "degraded", "both" or "-" (nothing)."""
    return [
        RunVerdict(NOW - timedelta(days=len(found) - 1 - day), what in ("drift", "both"), what in ("degraded", "both"))
        for day, what in enumerate(found)
    ]


def test_degraded_live_performance_retrains_at_once():
    decision = decide(runs("degraded"), None, 3, WEEK, "7d")
    assert decision.retrain
    assert decision.exit_code == 0
    assert decision.evidence == "degraded live performance"
    assert decision.reason == "retrain: degraded live performance (no earlier retrain)"


def test_drift_found_once_does_not_retrain():
    decision = decide(runs("-", "drift"), None, 3, WEEK, "7d")
    assert not decision.retrain
    assert decision.exit_code == 1
    assert decision.drift_runs == 1
    assert decision.reason == "no retrain: data drift in 1 consecutive run, fewer than monitor.retrain_after_runs (3)"


def test_drift_found_by_n_consecutive_runs_retrains_on_the_nth():
    assert not decide(runs("drift", "drift"), None, 3, WEEK, "7d").retrain
    decision = decide(runs("drift", "drift", "drift"), None, 3, WEEK, "7d")
    assert decision.retrain
    assert decision.drift_runs == 3
    assert decision.evidence == "data drift in 3 consecutive runs"


def test_a_run_without_drift_breaks_the_streak():
    history = runs("drift", "drift", "-", "drift", "drift")
    assert drift_streak(history) == 2
    assert not decide(history, None, 3, WEEK, "7d").retrain


def test_within_the_cooldown_nothing_retrains_and_the_reason_says_until_when():
    last = NOW - timedelta(days=2)
    for history in (runs("degraded"), runs("drift", "drift", "drift")):
        decision = decide(history, last, 3, WEEK, "7d")
        assert not decision.retrain
        assert decision.not_before == last + WEEK
        assert decision.reason.startswith("no retrain yet: ")
        assert "within monitor.retrain_cooldown (7d): not before 2026-12-11 05:23 UTC" in decision.reason


def test_past_the_cooldown_evidence_retrains_again():
    last = NOW - WEEK - timedelta(minutes=1)
    decision = decide(runs("drift", "drift", "drift"), last, 3, WEEK, "7d")
    assert decision.retrain
    assert decision.not_before is None
    assert "the last one started 2026-11-29 05:22 UTC" in decision.reason


def test_no_cooldown_with_0d():
    assert decide(runs("degraded"), NOW - timedelta(minutes=5), 3, timedelta(0), "0d").retrain


def test_the_last_retrain_is_the_newest_run_of_retrain_yml():
    answer = [{"createdAt": "2026-12-01T05:30:00Z"}, {"createdAt": "2026-12-03T10:00:00Z"}, {"createdAt": ""}]
    assert latest_retrain(answer) == datetime(2026, 12, 3, 10, tzinfo=UTC)
    assert latest_retrain([]) is None


def test_a_step_run_again_replaces_its_verdict_and_the_history_stays_bounded():
    history = runs(*["drift"] * 150)
    again = RunVerdict(NOW, False, False)
    updated = with_run(history, again)
    assert len(updated) == 100
    assert updated[-1] == again
    assert updated[-2].time == NOW - timedelta(days=1)


def test_no_history_is_no_decision():
    with pytest.raises(ValueError, match="no run"):
        decide([], None, 3, WEEK, "7d")
