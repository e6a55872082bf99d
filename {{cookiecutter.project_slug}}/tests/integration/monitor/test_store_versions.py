"""A release in the window: the store holds an older model version's parts, which log a feature the new version
dropped and integer classes where the new one logs text (test_monitor_command's store and repository). The
readers behind `drift`, `monitor` and `dataset` read every part cast to the latest version's schema."""

import json

import numpy as np

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import DRIFT_FILE, MONITOR_FILE, load_params

from .test_monitor_command import traffic, write


def test_a_release_that_drops_a_feature_and_retypes_the_classes_breaks_neither_drift_nor_monitor_nor_dataset(
    repo, capsys
):
    old, new = traffic(version="my_model:v1"), traffic()  # v1, then the production model's
    half = len(old) // 2
    v1 = old.iloc[:half].assign(legacy=1.0)  # a feature v2 no longer logs
    if load_params().task == "classification":  # v1 logged its classes as integers (their index)
        classes = sorted(set(v1[store.LABEL]) | set(v1[store.PREDICTION]))
        for name in (store.PREDICTION, store.LABEL):
            v1[name] = np.array([classes.index(value) for value in v1[name]], dtype=np.int64)
    else:
        v1[store.PREDICTION] = v1[store.PREDICTION].round().astype(np.int64)
    write(v1)
    write(new.iloc[half:])
    assert main(["drift"]) in (0, 1)
    drift = json.loads(DRIFT_FILE.read_text())
    assert "legacy" not in drift["features"]
    assert drift["rows"]["current"] == len(old)
    assert main(["monitor"]) in (0, 1)  # production's rows only; v1's counted
    result = json.loads(MONITOR_FILE.read_text())
    assert result["traffic"]["distinct"] == len(old) - half
    assert result["versions"]["other_rows"] == {"v1": half}
    assert main(["monitor", "--all-versions"]) in (0, 1)  # both, v1's cast to the latest schema
    assert json.loads(MONITOR_FILE.read_text())["traffic"]["distinct"] == len(old)
    assert main(["dataset"]) == 0
    assert "dataset: " in capsys.readouterr().out
