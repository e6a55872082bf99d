"""The stored model's service config (serving/config.py): plain metadata out, the same typed config back in, and a
version that hashes the model's bytes with what types its requests."""

import hashlib
import json

import pytest

from {{ cookiecutter.package_name }}.contract import ColumnSpec
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.params import ServeParams
from {{ cookiecutter.package_name }}.records import IdColumn, model_version
from {{ cookiecutter.package_name }}.serving.config import ServiceConfig

FEATURES = (
    ColumnSpec("tenure_months", "float", nullable=True, minimum=1.0, maximum=71.0),
    ColumnSpec("plan_type", "string", nullable=True, categories=("basic", "plus", "pro")),
    ColumnSpec("seats", "integer", nullable=False, categories=(1, 2, 5)),
    ColumnSpec("active", "boolean", nullable=False),
)
CONFIG = ServiceConfig(
    version="pkg:0123456789abcdef",
    estimator="logistic_regression",
    task="classification",
    target="churn",
    features=FEATURES,
    serve=ServeParams(max_records=50, log_hash_columns=("plan_type",)),
    monitor_store="s3://bucket/monitor",
    id_column=IdColumn("customer_id", "string"),
    classes=("no", "yes"),
    metrics={"roc_auc": 0.8},
    prediction_reference={"class_share": {"no": 0.75, "yes": 0.25}},
)


def plain(value: object) -> bool:
    """Whether a value is made of what the BentoML store accepts: no None, no tuples."""
    if isinstance(value, dict):
        return all(plain(item) for item in value.values())
    if isinstance(value, list):
        return all(plain(item) for item in value)
    return isinstance(value, str | int | float | bool)


def test_the_metadata_is_plain_and_reads_back_as_the_same_config():
    metadata = CONFIG.to_metadata()
    assert plain(metadata)
    assert metadata["id_column"] == {"name": "customer_id", "kind": "string"}
    plan = {"name": "plan_type", "kind": "string", "nullable": True, "categories": ["basic", "plus", "pro"]}
    assert metadata["features"][1] == plan
    assert metadata["monitor"] == {"store": "s3://bucket/monitor"}
    assert "smoke_rows" not in metadata["serve"]  # a packaging setting, not the service's
    assert ServiceConfig.from_metadata(json.loads(json.dumps(metadata)), CONFIG.version, CONFIG.estimator) == CONFIG


def test_a_regression_model_without_an_id_column_has_neither_key():
    config = ServiceConfig(
        version="pkg:r",
        estimator="ridge",
        task="regression",
        target="price",
        features=FEATURES[:1],
        serve=ServeParams(),
        monitor_store="logs",
    )
    metadata = config.to_metadata()
    assert not {"id_column", "classes"} & set(metadata)
    assert plain(metadata)
    assert ServiceConfig.from_metadata(metadata, "pkg:r", "ridge") == config


def test_a_model_packaged_before_a_serve_limit_existed_gets_its_default():
    metadata = CONFIG.to_metadata()
    del metadata["serve"]["log_part_rows"]
    assert ServiceConfig.from_metadata(metadata, CONFIG.version).serve.log_part_rows == ServeParams().log_part_rows


def test_metadata_that_is_not_a_config_names_the_model_and_the_fix():
    metadata = CONFIG.to_metadata()
    metadata["features"][0]["kind"] = "date"
    with pytest.raises(ProjectError, match=r"model pkg:0123456789abcdef: .*features.*make package"):
        ServiceConfig.from_metadata(metadata, CONFIG.version)


def test_the_version_hashes_the_model_with_the_metadata_of_its_request_fields_id_column_and_limits():
    metadata = CONFIG.to_metadata()
    identity = {key: metadata[key] for key in ("features", "id_column", "serve")}
    expected = hashlib.sha256(b"model" + json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    assert model_version(b"model", FEATURES, CONFIG.id_column, CONFIG.serve) == expected
    assert model_version(b"model", FEATURES, None, CONFIG.serve) != expected
    assert model_version(b"model", FEATURES, CONFIG.id_column, ServeParams()) != expected
