"""What the service knows of the model it serves (`ServiceConfig`): the request fields (the contract's ColumnSpecs),
the id column, the classes, the serve limits, the monitoring store and the holdout's prediction distribution.

`package` stores it as the model's BentoML metadata (`to_metadata`) and names the model after a hash of its bytes
and of what types its requests (`model_version`, the core's records.py: batch scoring names the same model alike); the
service reads it back when it starts (`from_stored`), so a built bento never reads params.yaml or schema.yaml. The
conversion to the store's plain YAML values (it refuses None and tuples) and back happens here only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from .. import io
from ..contract import ColumnSpec
from ..errors import ProjectError, first_error
from ..metrics import Task
from ..params import ServeParams
from ..records import IdColumn, request_identity

MODEL_NAME = __name__.split(".")[0]  # the name of the model in the BentoML store, and of the bento
MODEL_FILE_NAME = "model.joblib"  # inside the stored model's folder
CARD_FILE_NAME = "model_card.json"  # ... and the model card of those bytes (GET /model-card), when there is one
EXPLAIN_FILE_NAME = "explain.json"  # ... and a linear model's reference point for POST /explain (serving/explain.py)
ESTIMATOR_LABEL = "estimator"  # the stored model's label that names its estimator (train.estimator)

Label = bool | int | float | str  # a class of a classifier (the model's classes_)
_FORBID = ConfigDict(extra="forbid")


@dataclass(frozen=True, config=_FORBID)
class ServiceConfig:
    """Everything the service needs besides the model's file, typed; `package` writes it, the service reads it."""

    version: str  # the stored model's tag, <package>:<model_version>: /predict's model_version
    estimator: str  # train.estimator (a label of the stored model, not its metadata)
    task: Task
    target: str
    features: tuple[ColumnSpec, ...]  # the request fields, in the model's order
    serve: ServeParams
    monitor_store: str  # monitor.store: where the inference log goes ($MONITOR_STORE wins)
    id_column: IdColumn | None = None
    classes: tuple[Label, ...] | None = None  # a classifier's classes_, in its order
    metrics: dict[str, Any] = field(default_factory=dict)  # reports/metrics.json of the packaged model
    # The holdout's predictions, the baseline of the prediction-shift alert (prometheus.prediction_reference).
    prediction_reference: dict[str, Any] = field(default_factory=dict)

    def to_metadata(self) -> dict[str, Any]:
        """The stored model's metadata: plain YAML values, a key only where there is a value."""
        metadata: dict[str, Any] = {
            "task": self.task,
            "target": self.target,
            **request_identity(self.features, self.id_column, self.serve),
            "monitor": {"store": self.monitor_store},
            "metrics": self.metrics,
        }
        if self.classes is not None:
            metadata["classes"] = list(self.classes)
        if self.prediction_reference:
            metadata["prediction_reference"] = self.prediction_reference
        return metadata

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], version: str, estimator: str = "") -> ServiceConfig:
        """The config of a stored model from its metadata, tag and estimator label; ProjectError when it is not one."""
        fields = {key: metadata[key] for key in _METADATA_KEYS if key in metadata}
        fields |= {"version": version, "estimator": estimator}
        fields["monitor_store"] = metadata.get("monitor", {}).get("store", "logs")
        try:
            return _CONFIG.validate_python(fields)
        except ValidationError as exc:
            raise ProjectError(
                f"model {version}: its metadata is not what this service reads ({first_error(exc)}); "
                "package it again (make package)"
            ) from None

    @classmethod
    def from_stored(cls, tag: str) -> ServiceConfig:
        """The config of the model stored under `tag` (`<package>:latest`: the latest packaged) in the BentoML store."""
        import bentoml

        stored = bentoml.models.BentoModel(tag).stored
        if stored is None:
            raise ProjectError(f"no model {tag} in the BentoML store: run `make package` first")
        labels = stored.info.labels
        return cls.from_metadata(stored.info.metadata, str(stored.tag), str(labels.get(ESTIMATOR_LABEL, "")))


_CONFIG = TypeAdapter(ServiceConfig)
# The metadata keys that are fields of the config as they are ("monitor" holds monitor_store).
_METADATA_KEYS = ("task", "target", "features", "serve", "id_column", "classes", "metrics", "prediction_reference")


def read_card(path: Path, model_bytes: bytes, what: str, fix: str) -> dict[str, Any] | None:
    """The model card at `path` when it describes `model_bytes` (its model.sha256); None when there is no card.
    A card of other bytes is an error (`what` names the card, `fix` what to run): the service would describe a model
    it does not serve. `package` checks reports/model_card.json so, the service the card packaged with the model."""
    if not path.is_file():
        return None
    card: dict[str, Any] = io.read_json(path)
    described = card.get("model", {}).get("sha256") if isinstance(card.get("model"), dict) else None
    actual = hashlib.sha256(model_bytes).hexdigest()
    if described != actual:
        raise ProjectError(f"{what} describes model bytes {str(described)[:12]}, the model's are {actual[:12]}: {fix}")
    return card
