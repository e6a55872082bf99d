"""Personal data, consistently: the columns the inference log drops or hashes (serve.log_drop_columns,
serve.log_hash_columns) are no features for `drift`, `monitor` and `dataset`, and their reports say so."""

import hashlib
import json

import pandas as pd
import yaml

from {{ cookiecutter.package_name }} import store
from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.params import DRIFT_FILE, MONITOR_FILE, PRODUCTION_DATA

from .test_monitor_command import traffic, write


def private_traffic(repo):
    """Traffic as the log writes it with one feature dropped and one hashed, and params.yaml saying so (first: the
    serve settings are part of the version the service answers, and `monitor` judges that version's rows)."""
    features = [name for name in traffic().columns if not name.startswith("_")]
    dropped, hashed = features[0], features[1]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params.setdefault("serve", {}).update(log_drop_columns=[dropped], log_hash_columns=[hashed])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    live = traffic().drop(columns=dropped)
    live[hashed] = live[hashed].map(lambda value: hashlib.sha256(str(value).encode()).hexdigest())
    write(live)
    return live, dropped, hashed


def test_monitor_and_drift_leave_dropped_and_hashed_columns_out_and_say_so(repo, capsys):
    _, dropped, hashed = private_traffic(repo)
    assert main(["monitor"]) == 0  # neither "only in reference" (exit 2) nor a hash "drifting" (exit 1)
    result = json.loads(MONITOR_FILE.read_text())
    assert result["non_features"] == {
        dropped: "left out of the inference log (serve.log_drop_columns)",
        hashed: "hashed in the inference log (serve.log_hash_columns)",
    }
    assert result["drift"]["verdict"] == "no drift"
    assert result["performance"]["verdict"] == "ok"  # judged on the answers the service logged
    assert main(["drift"]) == 0
    drift = json.loads(DRIFT_FILE.read_text())
    assert set(drift["non_features"]) == {dropped, hashed}
    assert dropped not in drift["features"]
    assert hashed not in drift["features"]


def test_dataset_writes_dropped_and_hashed_columns_as_missing_never_the_hashes(repo, capsys):
    live, dropped, hashed = private_traffic(repo)
    capsys.readouterr()
    assert main(["dataset"]) == 0
    assert f"dataset: {dropped}, {hashed}: dropped or hashed in the inference log, written as missing" in (
        capsys.readouterr().out
    )
    [added] = sorted(PRODUCTION_DATA.glob("*.parquet"))
    rows = pd.read_parquet(added)
    assert len(rows) == len(live)
    assert rows[dropped].isna().all()
    assert rows[hashed].isna().all()
    assert store.ID in rows.columns
