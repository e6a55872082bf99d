"""Load test of POST /predict: `make loadtest URL=... USERS=32 DURATION=30s` (locust, headless, bounded).

Each user sends single-row requests back to back (holdout rows, in turn), like the serving benchmark.
At the end it prints one line: req/s, p50/p95/p99 latency, errors; the exit code is 1 if any request failed.
"""

from __future__ import annotations

import itertools
import json

import pandas as pd
from locust import HttpUser, constant, events, task

from {{ cookiecutter.package_name }}.params import TEST_DATA, load_params

_params = load_params()
_frame = pd.read_parquet(TEST_DATA).drop(columns=[c for c in (_params.data.target, _params.data.id_column) if c])
BODIES = [json.dumps({"records": [record]}) for record in json.loads(_frame.to_json(orient="records"))]


class PredictUser(HttpUser):
    """A client that sends single-row requests back to back."""

    wait_time = constant(0)

    def on_start(self) -> None:
        """Each user cycles through the holdout rows."""
        self.bodies = itertools.cycle(BODIES)

    @task
    def predict(self) -> None:
        """POST one row."""
        self.client.post("/predict", data=next(self.bodies), headers={"Content-Type": "application/json"})


@events.quitting.add_listener
def summary(environment, **_kwargs) -> None:
    """Print the one-line result and set the exit code."""
    total = environment.stats.total
    percentile = total.get_response_time_percentile
    print(
        f"loadtest: {total.num_requests} requests, {total.total_rps:.1f} req/s, "
        f"p50 {percentile(0.5):.0f} ms, p95 {percentile(0.95):.0f} ms, p99 {percentile(0.99):.0f} ms, "
        f"errors {total.num_failures} ({total.fail_ratio:.1%})"
    )
    environment.process_exit_code = 1 if total.num_failures else 0
