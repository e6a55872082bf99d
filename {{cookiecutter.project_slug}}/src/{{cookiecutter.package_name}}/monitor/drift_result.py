"""The drift check's typed results, built once: each column's statistics (numeric or categorical) and histogram,
its verdict (ColumnDrift), and the dataset's (DriftResult), with `to_json()` for reports/drift.json.

Here so that drift_report.py, which renders them, and monitor.py, which summarises them, need neither stats.py,
which computes them, nor drift.py, which judges them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from ..columns import CATEGORICAL, NUMERIC, Treatment
from ..params import DriftParams

Verdict = Literal["drift found", "no drift", "not enough data"]

# --- the result types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericSide:
    """One side of a numeric column: rows (missing ones included), the share missing, the values' mean and std."""

    rows: int
    missing_share: float
    mean: float | None  # None: no value; NaN: infinities of both signs
    std: float | None


@dataclass(frozen=True)
class CategoricalSide:
    """One side of a categorical column."""

    rows: int


@dataclass(frozen=True)
class NumericHistogram:
    """Each side's share of its values per bin (HISTOGRAM_BINS equal bins: one edge more than shares)."""

    edges: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True)
class CategoryHistogram:
    """Each side's share of rows in the TOP_CATEGORIES categories most frequent over both sides."""

    categories: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


@dataclass(frozen=True)
class ShareChange:
    """The category whose share moved most, with its share on each side."""

    category: str
    reference: float
    current: float


@dataclass(frozen=True)
class NumericStatistics:
    """A numeric column's statistics: KS, PSI, each side's summary, the plot's histogram (None: no finite value)."""

    kind: ClassVar[Treatment] = NUMERIC
    p_value: float
    ks_statistic: float
    psi: float
    reference: NumericSide
    current: NumericSide
    histogram: NumericHistogram | None
    # each effect size's (1 - alpha) quantile when nothing changed, at these sample sizes (0: far below any threshold)
    null_quantiles: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, with the kind."""
        return {"kind": self.kind, **asdict(self), "null_quantiles": dict(self.null_quantiles)}


@dataclass(frozen=True)
class CategoricalStatistics:
    """A categorical column's statistics: chi-square, Cramer's V, Jensen-Shannon, new categories, the plot's shares."""

    kind: ClassVar[Treatment] = CATEGORICAL
    p_value: float
    chi2: float
    cramers_v: float
    js_distance: float
    new_categories: tuple[str, ...]  # the first 20, sorted
    new_category_share: float  # of the current rows
    largest_change: ShareChange
    reference: CategoricalSide
    current: CategoricalSide
    histogram: CategoryHistogram
    null_quantiles: Mapping[str, float] = field(default_factory=dict)  # as NumericStatistics'

    def to_json(self) -> dict[str, Any]:
        """The JSON form, with the kind."""
        return {"kind": self.kind, **asdict(self), "null_quantiles": dict(self.null_quantiles)}


Statistics = NumericStatistics | CategoricalStatistics


@dataclass(frozen=True)
class ColumnDrift:
    """A tested column: its statistics and drift.detect's verdict on them."""

    column: str
    statistics: Statistics
    p_value_adjusted: float
    severity: float  # the largest effect size over its threshold: 1 or more is large enough
    drift: bool
    # each effect size's threshold at this column's sample sizes: the configured one, or its null quantile if larger
    thresholds: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The column's entry in reports/drift.json: statistics and verdict side by side (a feature's name is its
        key; a role's name is added by DriftResult)."""
        verdict = {
            "p_value_adjusted": self.p_value_adjusted,
            "severity": self.severity,
            "drift": self.drift,
            "thresholds": dict(self.thresholds),
        }
        return self.statistics.to_json() | verdict


@dataclass(frozen=True)
class RowCounts:
    """Rows of each side (the current side: one per record)."""

    reference: int
    current: int


@dataclass(frozen=True)
class FeatureSeparation:
    """A feature's share in telling the sides apart: the domain classifier's AUC lost when it is shuffled."""

    feature: str
    auc_loss: float


@dataclass(frozen=True)
class MultivariateDrift:
    """The domain classifier's verdict (multivariate.py): can the current rows be told from the reference rows?"""

    auc: float  # each fold's AUC of its held-out rows (cross-fitted), their mean: 0.5 alike, 1 wholly different
    threshold: float  # the larger of the null quantile and drift.multivariate_auc
    null_quantile: float  # the largest fold's AUC (1 - alpha) quantile under no change at these sizes (permutation)
    drifted: bool
    top_features: tuple[FeatureSeparation, ...]  # what separates the sides most, largest AUC loss first
    rows_used: RowCounts  # rows the classifier saw: a seeded sample of each side above multivariate.SIDE_ROWS
    rows: RowCounts  # rows of each side
    subsampled: bool

    def to_json(self) -> dict[str, Any]:
        """The JSON form (`top_features`: a list of {feature, auc_loss})."""
        return asdict(self) | {"top_features": [asdict(entry) for entry in self.top_features]}


@dataclass(frozen=True)
class ScoreDrift:
    """One model version's logged scores against the production model's on its holdout (score_drift.py)."""

    score: str  # what was compared: "P(<class>)" (the most severe class of several) or "prediction"
    rows: int  # the version's live rows with a score
    reference_rows: int  # the holdout's
    ks_statistic: float
    psi: float
    p_value: float  # KS, Bonferroni-adjusted across the versions and scores tested
    thresholds: Mapping[str, float]  # each effect size's, at these sizes (as a numeric column's: drift.judged)
    severity: float
    drifted: bool
    # the production model gives this version's logged scores on a sample of its rows (None: cannot tell, the log
    # keeps no value of some input); only such versions' drift counts toward the verdict, and unknown ones do too
    same_as_production: bool | None
    counted: bool


@dataclass(frozen=True)
class Sources:
    """Where each side came from, in words; the model and rows whose predictions stand in for the reference's."""

    reference: str
    current: str
    prediction_model: str | None = None
    prediction_rows: str | None = None

    def to_json(self) -> dict[str, str]:
        """The JSON form: the stand-in's keys only when there is one."""
        return {name: value for name, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class DriftResult:
    """The drift check's verdict and statistics: reports/drift.json is its to_json()."""

    verdict: Verdict
    drift: bool  # the data drifted (dataset_drift, or multivariate.drifted), or the target or the prediction did
    dataset_drift: bool  # the share of drifted features reached drift.share
    share_drifted: float
    drifted_features: tuple[str, ...]  # by severity, largest first
    features: Mapping[str, ColumnDrift]
    target: ColumnDrift | None
    prediction: ColumnDrift | None
    ignored_columns: tuple[str, ...]
    rows: RowCounts
    types_from: Literal["contract", "data", ""]  # "": not enough data, nothing typed
    settings: DriftParams
    sources: Sources | None = None  # set by the commands
    plots: Mapping[str, str] = field(default_factory=dict)  # column -> PNG, set when the reports are written
    # model inputs the inference log keeps no comparable value of (personal data dropped or hashed), with why
    non_features: Mapping[str, str] = field(default_factory=dict)
    multivariate: MultivariateDrift | None = None  # None: drift.multivariate off, or too few rows

    def roles(self) -> list[tuple[str, ColumnDrift]]:
        """(role, entry) of the target and the prediction, when tested."""
        return [(role, entry) for role, entry in (("target", self.target), ("prediction", self.prediction)) if entry]

    def to_json(self) -> dict[str, Any]:
        """The JSON form (plain dicts and lists; NaN and infinities still to be replaced)."""

        def role(entry: ColumnDrift | None) -> dict[str, Any] | None:
            return None if entry is None else entry.to_json() | {"column": entry.column}

        return {
            "verdict": self.verdict,
            "drift": self.drift,
            "dataset_drift": self.dataset_drift,
            "share_drifted": self.share_drifted,
            "drifted_features": list(self.drifted_features),
            "features": {name: entry.to_json() for name, entry in self.features.items()},
            "target": role(self.target),
            "prediction": role(self.prediction),
            "ignored_columns": list(self.ignored_columns),
            "rows": asdict(self.rows),
            "types_from": self.types_from,
            "settings": self.settings.model_dump(mode="json", exclude={"current"}),
            "sources": {} if self.sources is None else self.sources.to_json(),
            "plots": dict(self.plots),
            "non_features": dict(self.non_features),
            "multivariate": None if self.multivariate is None else self.multivariate.to_json(),
        }
