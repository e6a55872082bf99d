"""reports/compare.md (gate/report.py): the verdict first, then the tables, the chart and the links."""

from {{ cookiecutter.package_name }}.gate.decision import Challenger, Champion, Comparison, GatePolicy, Holdout, decide
from {{ cookiecutter.package_name }}.gate.report import render
from {{ cookiecutter.package_name }}.gate.scoring import Latency
from {{ cookiecutter.package_name }}.params import DataParams, GateParams, Params, TrainParams

POLICY = GatePolicy.from_params(
    Params(
        seed=1,
        task="classification",
        data=DataParams(source="data.csv", target="y"),
        train=TrainParams(estimator="dummy"),
        gate=GateParams(metric="roc_auc", guardrails=(), bootstrap=300),
    )
)


def test_the_report_leads_with_the_verdict_and_draws_the_chart(monkeypatch):
    for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):  # links differ on GitHub Actions
        monkeypatch.delenv(name, raising=False)
    champion, challenger = {"roc_auc": 0.9, "accuracy": 0.84}, {"roc_auc": 0.93, "accuracy": 0.85}
    intervals = {"roc_auc": (0.01, 0.05), "accuracy": (-0.01, 0.03)}
    decision = decide(POLICY, challenger, champion, intervals)
    deltas = {
        name: {"delta": challenger[name] - champion[name], "low": low, "high": high}
        for name, (low, high) in intervals.items()
    }
    result = Comparison(
        metric="roc_auc",
        higher_is_better=True,
        decision="pass" if decision.passed else "block",
        verdict=decision.verdict,
        reasons=decision.reasons,
        checks=list(decision.checks),
        deltas=deltas,
        policy=POLICY,
        holdout=Holdout("data/processed/test.parquet", 300, "ab" * 32),
        champion=Champion(
            version="v0.0.1",
            commit="c" * 40,
            ref="model#prod#1",
            sha256="e" * 64,
            path="champion.joblib",
            source="DVC cache/remote",
            size_bytes=2048,
            metrics={**champion},
            latency=Latency(0.8, 1.0),
        ),
        challenger=Challenger("d" * 40, True, 2048, {**challenger}, Latency(0.9, 1.1)),
        validation={"success": False, "evaluated": 10, "failed": 1, "failing": ["age: expect_column_values"]},
        plots=["reports/plots/roc.png"],
    )
    text = render(result)
    first = text.splitlines()[0]
    assert first.startswith("## ")
    assert decision.verdict in first
    assert "| **roc_auc** (gate) |" in text
    assert "`v0.0.1`" in text
    assert "uncommitted changes" in text
    assert "```mermaid\nxychart-beta" in text
    assert '"champion v0.0.1"' in text
    assert "❌ failed 1 of 10 expectations: age: expect_column_values" in text
    assert "[roc.png](plots/roc.png)" in text
