"""The monitoring store on S3, offline: the served model's traffic and feedback land in s3:// parts.

moto is an S3 API emulator: `moto_server` (moto[server], in the dev group) answers the S3 API on a loopback
port, and s3fs (fsspec's S3 backend, the one the DVC remote uses) talks to it as to AWS, through the standard
variables: AWS_ENDPOINT_URL_S3 points it at the emulator, dummy keys sign the requests. The bucket is made
with boto3 (s3fs's mkdir of a bucket fails there with InvalidLocationConstraint). The emulator runs on
127.0.0.1, gets a bounded wait to answer, and is stopped by its PID.
"""

import asyncio
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import store

BUCKET = "monitoring"
ROOT = f"s3://{BUCKET}/prod"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto_server on a free loopback port with the bucket made, and the AWS variables that lead s3fs to it."""
    import boto3
    import s3fs

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "moto_server did not answer within 30 s"
                time.sleep(0.2)
        env = {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        env |= {"AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": str(log.with_name("none"))}
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(log.with_name("none"))
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            s3fs.S3FileSystem.clear_instance_cache()  # an instance made before would keep its endpoint
            boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def served_to_s3(s3, tmp_path_factory):
    """A packaged churn model whose service logs to s3://monitoring/prod ($MONITOR_STORE)."""
    from conftest import packaged_project

    with packaged_project(tmp_path_factory.mktemp("s3-service"), MONITOR_STORE=ROOT) as folder:
        yield folder


def test_the_services_traffic_and_feedback_land_in_s3_by_date_and_model_version(served_to_s3):
    import pandas as pd

    from {{ cookiecutter.package_name }}.params import TEST_DATA
    from {{ cookiecutter.package_name }}.serving.service import make_service

    service = make_service()
    instance = service.inner()
    assert instance.log.root == ROOT
    spec = service.apis["predict"].input_spec.model_fields["records"].annotation.__args__[0]
    frame = pd.read_parquet(TEST_DATA).drop(columns=["churn", "customer_id"]).head(3)
    rows = [{k: None if pd.isna(v) else v for k, v in row.items()} for row in frame.to_dict(orient="records")]
    records = [spec.model_validate(row) for row in rows]
    answer = asyncio.run(instance.predict_records(records, traffic=store.TEST))
    label = service.apis["feedback"].input_spec.model_fields["feedback"].annotation.__args__[0]
    labels = [label.model_validate({"id": answer.ids[0], "label": "yes"})]
    assert asyncio.run(instance.feedback(feedback=labels)).accepted == 1
    asyncio.run(instance.flush_log())  # what SIGTERM runs: the parts are written now

    [part] = store.part_files(ROOT, store.PREDICTIONS)
    version = answer.model_version.split(":")[1]
    assert part.startswith(f"{BUCKET}/prod/predictions/date=")
    assert f"/model={version}/part-" in part
    logged = store.read_window(ROOT, store.PREDICTIONS)
    assert logged[store.ID].tolist() == answer.ids
    assert logged[store.PREDICTION].tolist() == answer.predictions
    assert set(logged[store.TRAFFIC]) == {store.TEST}
    assert logged["monthly_charges"].tolist() == frame["monthly_charges"].tolist()
    feedback = store.read_window(ROOT, store.FEEDBACK)
    assert feedback[[store.ID, store.LABEL]].values.tolist() == [[answer.ids[0], "yes"]]
    assert store.part_files(ROOT, store.FEEDBACK)[0].startswith(f"{BUCKET}/prod/feedback/date=")
