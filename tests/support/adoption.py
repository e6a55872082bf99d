"""A team's own table adopted by a baked project, as the README says, then used the way the loop uses it."""

from __future__ import annotations

import json
from pathlib import Path

from support.bake import porcelain
from support.datasets import DATASETS
from support.process import run
from support.serving import predict_once


def adopt_and_run(project: Path, name: str, folder: Path, package: str) -> dict:
    """`make adopt` the table `name` (written by the project's own Python into `folder`), then `make pipeline`,
    `make test-data` (the generated tests that train on the project's own data: the gate's and monitoring's; the
    rest run on tables of their own, the same whatever the data, and the bakes' `make test` runs them), commit;
    returns the metrics and adopt's output. The checks are the caller's."""
    dataset = DATASETS[name]
    python = project / ".venv/bin/python"
    path = Path(
        run([str(python), str(Path(__file__).with_name("datasets.py")), name, str(folder)], project).stdout.strip()
    )
    adopt = ["make", "adopt", f"SOURCE={path}", f"TARGET={dataset.target}", "YES=1"]
    adopted = run([*adopt, *([f"ID={dataset.id_column}"] if dataset.id_column else [])], project)
    run(["make", "pipeline"], project, timeout=900)
    tested = run(["make", "test-data"], project, timeout=900)
    assert " failed" not in tested.stdout and " passed" in tested.stdout
    assert " warning" not in tested.stdout.splitlines()[-1], tested.stdout.splitlines()[-1]
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", f"Adopt {name}"], project)  # with the pre-commit hooks
    assert porcelain(project) == []
    metrics = json.loads((project / "reports/metrics.json").read_text())
    return {"metrics": metrics, "adopt": adopted.stdout, "package": package}


def one_prediction(project: Path, package: str, log: Path) -> dict:
    """The served model's answer to `make example`'s body (a real holdout row)."""
    body = json.loads(run(["make", "-s", "example"], project).stdout)
    answer = predict_once(project, body, log)
    assert len(answer["predictions"]) == 1
    assert answer["model_version"].startswith(f"{package}:")
    return answer
