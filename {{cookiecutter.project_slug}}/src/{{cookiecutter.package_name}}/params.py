"""Load params.yaml into typed, frozen objects: the only reader of params.yaml.

Paths of the pipeline's files are constants here too, so that commands, tests and dvc.yaml agree
(dvc.yaml repeats them as literals; a template test checks that they match).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ProjectError

PARAMS_FILE = Path("params.yaml")
SCHEMA_FILE = Path("schema.yaml")
RAW_DATA = Path("data/raw/data.parquet")
TRAIN_DATA = Path("data/processed/train.parquet")
TEST_DATA = Path("data/processed/test.parquet")
MODEL_FILE = Path("models/model.joblib")
REPORTS_DIR = Path("reports")
METRICS_FILE = REPORTS_DIR / "metrics.json"
PLOTS_DIR = REPORTS_DIR / "plots"
VALIDATION_FILE = REPORTS_DIR / "validation.json"

Task = Literal["classification", "regression"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataParams(_Section):
    source: str
    target: str
    id_column: str | None = None


class SplitParams(_Section):
    test_size: float = Field(0.2, gt=0, lt=1)
    stratify: bool = True


class TrainParams(_Section):
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)


class ContractParams(_Section):
    """How `schema` infers schema.yaml, and the validate stage's policies."""

    range_margin: float = Field(0.1, ge=0)
    max_categories: int = Field(20, ge=1)
    null_margin: float = Field(0.05, ge=0, le=1)
    min_rows_factor: float = Field(0.5, ge=0, le=1)
    max_rows_factor: float | None = Field(100.0, ge=1)
    extra_columns: Literal["fail", "warn"] = "fail"
    max_duplicate_fraction: float = Field(0.05, ge=0, le=1)
    sample_size: int = Field(5, ge=0, le=100)


class Params(_Section):
    seed: int = 42
    task: Task
    data: DataParams
    split: SplitParams = SplitParams()
    train: TrainParams
    contract: ContractParams = ContractParams()


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and check params.yaml; raise ProjectError naming the bad entry."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path} not found: run commands from the project root") from None
    except yaml.YAMLError as exc:
        raise ProjectError(f"{path} is not valid YAML: {exc}") from None
    try:
        return Params.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ProjectError(f"{path}: {where}: {first['msg']}{more}") from None
