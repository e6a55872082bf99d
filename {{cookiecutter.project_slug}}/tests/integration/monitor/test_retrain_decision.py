"""`retrain-decision` after `monitor`: this run's verdict added to the history, the decision in
reports/retrain.json, exit 0 = retrain, 1 = not now, 2 = bad input."""

import json
from datetime import UTC, datetime, timedelta

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.monitor.retraining import RETRAIN_FILE
from {{ cookiecutter.package_name }}.params import MONITOR_FILE


def monitored(findings: list[str], when: datetime) -> None:
    """reports/monitor.json as `monitor` writes it (the fields the decision reads)."""
    MONITOR_FILE.parent.mkdir(exist_ok=True)
    window = {"since": (when - timedelta(days=7)).isoformat(), "until": when.isoformat(), "length": "7d"}
    MONITOR_FILE.write_text(json.dumps({"findings": findings, "window": window}))


def test_persistent_drift_retrains_on_the_third_run_then_the_cooldown_holds(workdir, write_params, capsys):
    write_params(workdir)  # monitor.retrain_after_runs 3, retrain_cooldown 7d: the defaults
    history = workdir / "history/runs.jsonl"
    start = datetime.now(UTC) - timedelta(days=3)
    codes = []
    for day in range(3):
        monitored(["drift"], start + timedelta(days=day))
        codes.append(main(["retrain-decision", "--history", str(history), "--run", f"https://run/{day}"]))
    assert codes == [1, 1, 0]
    assert [json.loads(line)["run"] for line in history.read_text().splitlines()] == [
        f"https://run/{d}" for d in range(3)
    ]
    assert json.loads(RETRAIN_FILE.read_text())["evidence"] == "data drift in 3 consecutive runs"
    assert "retrain-decision: retrain: data drift in 3 consecutive runs" in capsys.readouterr().out

    retrains = workdir / "retrains.json"
    retrains.write_text(json.dumps([{"createdAt": (start + timedelta(days=2)).isoformat()}]))
    monitored(["drift"], start + timedelta(days=3))
    assert main(["retrain-decision", "--history", str(history), "--retrains", str(retrains)]) == 1
    decision = json.loads(RETRAIN_FILE.read_text())
    assert not decision["retrain"]
    assert decision["drift_runs"] == 4
    assert decision["not_before"] == (start + timedelta(days=9)).isoformat()
    assert "within monitor.retrain_cooldown (7d): not before" in capsys.readouterr().out


def test_an_empty_gh_answer_is_no_retrain_and_a_broken_history_is_an_error(workdir, write_params, capsys):
    write_params(workdir)
    monitored(["degraded"], datetime.now(UTC))
    (workdir / "retrains.json").write_text("")
    assert main(["retrain-decision", "--retrains", "retrains.json"]) == 0
    (workdir / "runs.jsonl").write_text('{"time": "yesterday"}\n')
    assert main(["retrain-decision", "--history", "runs.jsonl"]) == 2
    assert "runs.jsonl:1 is not a run verdict" in capsys.readouterr().err
