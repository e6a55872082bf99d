"""Load test of POST /predict: `make loadtest URL=... USERS=32 DURATION=30s` (locust, headless, bounded).

Each user sends single-row requests back to back (holdout rows, in turn), like the serving benchmark,
each marked `X-Traffic: test` (the service logs them as test traffic, which monitoring leaves out).
With POISON=0.01, every 100th request of each user is poisoned: its POISON_FIELD (default: the numeric
feature with the smallest spread, where an overflow is likeliest) is 1.7e308, a finite value no model
can take. A clean request passes only with a 200, a poisoned one only with a 4xx: one client's bad
request must never fail another's. At the end it prints one line: req/s, p50/p95/p99 latency, errors,
and the clean and poisoned counts; the exit code is 1 if any request failed.
"""

from __future__ import annotations

import itertools
import json
import os
import random

import pandas as pd
from locust import HttpUser, constant, events, task

from {{ cookiecutter.package_name }}.params import TEST_DATA, load_params

_params = load_params()
_frame = pd.read_parquet(TEST_DATA).drop(columns=[c for c in (_params.data.target, _params.data.id_column) if c])
_records = json.loads(_frame.to_json(orient="records"))
BODIES = [json.dumps({"records": [record]}) for record in _records]

POISON_SHARE = float(os.environ.get("POISON") or 0)
_numeric = [c for c in _frame.columns if pd.api.types.is_numeric_dtype(_frame[c]) and _frame[c].dtype != bool]
POISON_FIELD = os.environ.get("POISON_FIELD") or min(_numeric, key=lambda c: _frame[c].std(), default=None)
if POISON_SHARE and POISON_FIELD is None:
    raise SystemExit("loadtest: POISON needs a numeric feature to poison (set POISON_FIELD)")
POISONED = [json.dumps({"records": [{**record, POISON_FIELD: 1.7e308}]}) for record in _records]
EVERY = round(1 / POISON_SHARE) if POISON_SHARE else 0


class PredictUser(HttpUser):
    """A client that sends single-row requests back to back, every EVERY-th of them poisoned."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Each user cycles through the holdout rows."""
        self.bodies = itertools.cycle(BODIES)
        self.poisoned = itertools.cycle(POISONED)
        # users poison at different moments, not all at once
        self.sent = random.randrange(EVERY or 1)  # noqa: S311 - not cryptographic

    @task
    def predict(self) -> None:
        """POST one row: a clean one must get a 200, a poisoned one a 4xx."""
        self.sent += 1
        poisoned = EVERY and self.sent % EVERY == 0
        body, name = (next(self.poisoned), "/predict (poisoned)") if poisoned else (next(self.bodies), "/predict")
        headers = {"Content-Type": "application/json", "X-Traffic": "test"}  # logged as test traffic
        with self.client.post("/predict", data=body, headers=headers, name=name, catch_response=True) as response:
            if poisoned and not 400 <= response.status_code < 500:
                response.failure(f"a poisoned request got {response.status_code}, not a 4xx")
            elif poisoned:
                response.success()  # refused, as it should be


@events.quitting.add_listener
def summary(environment, **_kwargs) -> None:
    """Print the one-line result and set the exit code."""
    total = environment.stats.total
    percentile = total.get_response_time_percentile
    clean = environment.stats.get("/predict", "POST")
    poisoned = environment.stats.get("/predict (poisoned)", "POST")
    print(
        f"loadtest: {total.num_requests} requests, {total.total_rps:.1f} req/s, "
        f"p50 {percentile(0.5):.0f} ms, p95 {percentile(0.95):.0f} ms, p99 {percentile(0.99):.0f} ms, "
        f"errors {total.num_failures} ({total.fail_ratio:.1%}); "
        f"clean {clean.num_requests} ({clean.num_failures} not 200), "
        f"poisoned {poisoned.num_requests} ({poisoned.num_failures} not 4xx)"
    )
    environment.process_exit_code = 1 if total.num_failures else 0
