"""Smoke-check a running service with the smoke set packaged with its model: `make smoke URL=http://127.0.0.1:3000`.

    python scripts/smoke.py URL [--expect build/smoke.json] [--wait SECONDS]

The smoke set (build/smoke.json, written by `make package`; the deploy workflow passes the one inside the
image it built) holds holdout rows, the answers the packaged model gives them, its version and a bad
request chosen from the contract. The check waits (at most --wait seconds) until /readyz answers and the
service reports that version (after a deploy, the old pods answer until the rollout ends), then: the rows
as one batch and one by one get the expected answers and an id each, /feedback takes a label for those
ids, and the bad request gets a 400 naming its field. Every request says `X-Traffic: test`: the service
logs its rows as test traffic, which monitoring leaves out.
Standard library only: it runs on a CI runner with no project environment.
Exit 0 = healthy, 1 = a check failed or the version never came, 2 = unreachable or no smoke set.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

SMOKE_FILE = Path("build/smoke.json")
HEADERS = {"Content-Type": "application/json", "X-Traffic": "test"}  # not production traffic


def call(url: str, body: object | None = None, timeout: float = 10) -> tuple[int, Any]:
    """(status, parsed JSON or text) of a GET, or of a POST when a body is given; status 0 when unreachable."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def wait_for_version(url: str, record: dict[str, Any], version: str, seconds: float) -> str | None:
    """Poll until /readyz is 200 and /predict reports `version`; the last version seen when time runs out."""
    deadline, seen = time.monotonic() + seconds, None
    while True:
        if call(f"{url}/readyz", timeout=2)[0] == 200:
            status, body = call(f"{url}/predict", {"records": [record]})
            seen = body.get("model_version") if status == 200 and isinstance(body, dict) else seen
            if seen == version:
                return None
        if time.monotonic() >= deadline:
            return seen or "(no answer)"
        time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))


def same(expected: list[Any], got: list[Any]) -> bool:
    """Equal answers: labels exactly, numbers to a relative 1e-9 (JSON round trips)."""
    if len(expected) != len(got):
        return False
    return all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) if isinstance(a, float) or isinstance(b, float) else a == b
        for a, b in zip(expected, got, strict=True)
    )


def bad_record(record: dict[str, Any], probe: dict[str, Any]) -> dict[str, Any]:
    """The first record with the probe applied: its field left out, or given a value of the wrong type."""
    if probe["drop"]:
        return {key: value for key, value in record.items() if key != probe["field"]}
    return {**record, probe["field"]: probe["value"]}


def run_checks(url: str, smoke: dict[str, Any]) -> list[str]:
    """Send the smoke set; the failed checks (printed as they go)."""
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(what)

    records, expected = smoke["records"], smoke["predictions"]
    status, body = call(f"{url}/predict", {"records": records})
    check(status == 200, f"POST /predict with {len(records)} records answers 200 (got {status})")
    if status != 200 or not isinstance(body, dict):
        return failures
    check(body.get("model_version") == smoke["model_version"], f"model_version is {smoke['model_version']}")
    check(same(expected, body.get("predictions", [])), "the answers equal the packaged model's")
    ids = body.get("ids") or []
    check(len(set(ids)) == len(records), "each record gets an id of its own")
    probabilities = body.get("probabilities")
    if probabilities:
        check(all(abs(sum(p.values()) - 1) < 1e-6 for p in probabilities), "class probabilities sum to 1")
    alone = [call(f"{url}/predict", {"records": [record]})[1] for record in records]
    answers = [answer["predictions"][0] if isinstance(answer, dict) else None for answer in alone]
    check(same(expected, answers), "each row alone gets the answer it gets in the batch")
    labels = [{"id": str(record_id), "label": label} for record_id, label in zip(ids, expected, strict=False)]
    status, accepted = call(f"{url}/feedback", {"feedback": labels})
    check((status, accepted) == (200, {"accepted": len(labels)}), f"/feedback takes {len(labels)} labels by id")
    probe = smoke["probe"]
    status, refused = call(f"{url}/predict", {"records": [bad_record(records[0], probe)]})
    how = "without" if probe["drop"] else "with a wrong-type"
    check(
        status == 400 and probe["field"] in json.dumps(refused), f"a record {how} {probe['field']} is a 400 naming it"
    )
    return failures


def main(argv: list[str] | None = None) -> int:
    """Run the checks; the exit code says healthy (0), a failed check (1) or unreachable (2)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:3000")
    parser.add_argument("--expect", type=Path, default=SMOKE_FILE, help=f"the smoke set (default {SMOKE_FILE})")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the version (default 60)")
    args = parser.parse_args(argv)
    url = args.url.rstrip("/")
    try:
        smoke = json.loads(args.expect.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"smoke: cannot read the smoke set {args.expect} ({exc}): run `make package` first", file=sys.stderr)
        return 2
    if not smoke["records"]:
        print(f"smoke: {args.expect} has no rows", file=sys.stderr)
        return 2
    started = time.monotonic()
    seen = wait_for_version(url, smoke["records"][0], smoke["model_version"], args.wait)
    if seen == "(no answer)":
        print(f"smoke: {url} did not answer within {args.wait:g} s", file=sys.stderr)
        return 2
    if seen is not None:
        print(f"smoke: {url} still serves {seen}, not {smoke['model_version']}, after {args.wait:g} s", file=sys.stderr)
        return 1
    print(f"smoke: {url} serves {smoke['model_version']} (after {time.monotonic() - started:.1f} s)")
    failures = run_checks(url, smoke)
    print(f"smoke: {'FAILED: ' + '; '.join(failures) if failures else 'passed'} ({url}, {smoke['model_version']})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
