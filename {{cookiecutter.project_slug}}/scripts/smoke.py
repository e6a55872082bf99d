"""Smoke-check a running service: `make smoke URL=http://127.0.0.1:3000` (run from the project root).

Waits (at most 60 s) for /readyz, sends holdout rows (one batch, then one row per request) and checks the
answers: status, one prediction per record, known labels and probabilities that sum to 1 (classification),
the same answer for a row alone as in a batch, and a 400 that names the field for a bad record. When
models/model.joblib is present it also reports how many predictions it shares with the local model.
Exit 0 = healthy, 1 = a check failed, 2 = the service cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }}.params import MODEL_FILE, TEST_DATA, load_params


def call(url: str, body: object | None = None, timeout: float = 10) -> tuple[int, object]:
    """(status, parsed JSON or text) of a GET, or of a POST when a body is given."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def wait_ready(url: str, seconds: float) -> bool:
    """Whether /readyz answers 200 within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if call(f"{url}/readyz", timeout=2)[0] == 200:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    return False


def main() -> int:
    """Run the checks; the exit code says healthy (0), a failed check (1) or unreachable (2)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:3000")
    parser.add_argument("--rows", type=int, default=20, help="holdout rows to send (default 20)")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    if not wait_ready(url, 60):
        print(f"smoke: {url}/readyz did not answer 200 within 60 s", file=sys.stderr)
        return 2
    params = load_params()
    if not Path(TEST_DATA).is_file():
        print(f"smoke: {TEST_DATA} not found: run `make pipeline` (or dvc pull) first", file=sys.stderr)
        return 2
    holdout = pd.read_parquet(TEST_DATA).head(args.rows)
    features = holdout.drop(columns=[c for c in (params.data.target, params.data.id_column) if c])
    # Exact floats (pandas' to_json keeps 10 digits), NaN -> null.
    records = [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in features.to_dict(orient="records")]
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    status, body = call(f"{url}/predict", {"records": records})
    check(status == 200, f"POST /predict with {len(records)} records answers 200 (got {status})")
    if status != 200:
        print(f"smoke: {body}", file=sys.stderr)
        return 1
    predictions = body["predictions"]
    check(len(predictions) == len(records), f"{len(predictions)} predictions for {len(records)} records")
    check(bool(body.get("model_version")), f"model_version is {body.get('model_version')!r}")
    if params.task == "classification":
        labels = set(holdout[params.data.target].astype(str))
        check({str(p) for p in predictions} <= labels | set(map(str, body["probabilities"][0])), "known labels")
        sums = [sum(p.values()) for p in body["probabilities"]]
        check(all(abs(s - 1) < 1e-6 for s in sums), "class probabilities sum to 1")
    alone = [call(f"{url}/predict", {"records": [record]})[1]["predictions"][0] for record in records]
    check(alone == predictions, "each row alone gets the answer it got in the batch")
    bad = {key: value for key, value in records[0].items() if key != features.columns[0]}
    status, body_bad = call(f"{url}/predict", {"records": [bad]})
    named = features.columns[0] in json.dumps(body_bad)
    check(status == 400 and named, f"a record without {features.columns[0]} is a 400 naming it")
    if Path(MODEL_FILE).is_file():
        import joblib

        local = joblib.load(MODEL_FILE).predict(features).tolist()
        same = sum(a == b for a, b in zip(local, predictions, strict=True))
        print(f"  info {same}/{len(local)} predictions equal the local {MODEL_FILE}")
    print(f"smoke: {'FAILED: ' + '; '.join(failures) if failures else 'passed'} ({url}, {body['model_version']})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
