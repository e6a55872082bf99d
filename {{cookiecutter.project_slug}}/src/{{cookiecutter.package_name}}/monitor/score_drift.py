"""Score drift: each model version's logged scores against the production model's scores on its holdout.

Prediction drift (drift.py) compares hard classes: a positive rate going from 1 % to 3 % moves the class shares by
two points (Jensen-Shannon 0.06, under its 0.1 threshold), while the probabilities behind them moved a lot. Here
the scores are compared as numbers: for a classifier the logged probability of each class (`_probabilities`; of
the second class alone when there are two), for a regressor the prediction. Each is judged as a numeric column
is: KS and PSI with their thresholds at the actual sizes (stats.numeric_statistics, calibration.py; drift.judged),
the KS p-values Bonferroni-adjusted across the versions and scores tested.

Within one model version: a version's scores are never pooled with another's. Whether a version is the production
model is checked, not assumed: the production model scores a sample of the version's logged rows, and gives the
scores logged (SAME_MODEL_TOLERANCE) or not. Score drift of a version that scores as production does is drift of
what the production model sees, and counts toward the verdict (monitor's finding `drift`, exit 1); another
version's (a canary, the previous release) is reported, not counted: its scores differ by its model too. A version
that cannot be checked (the log keeps no value of some input) counts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from .. import store
from ..multiple import adjust
from ..params import DriftParams
from .drift import judged, limits
from .drift_result import NumericStatistics, ScoreDrift
from .stats import numeric_statistics
from .traffic import LiveRows

CHECKED_ROWS = 200  # rows per version the production model scores to tell whether the version is that model
# largest score difference of the same model (the log keeps features as the contract types); for a regressor's large
# predictions, also 1e-9 of themselves
SAME_MODEL_TOLERANCE = 1e-6
SEED = 20_241_207


def score_names(task: str, classes: Sequence[Any] | None) -> list[str]:
    """The scores compared: each class's probability (the second class's alone of two), or the prediction."""
    if task == "regression" or classes is None:
        return [store.PREDICTION]
    names = [str(name) for name in classes]
    return names[1:] if len(names) == 2 else names


def holdout_scores(model: Any, features: pd.DataFrame, task: str) -> dict[str, np.ndarray]:
    """The production model's scores on its holdout, by score name."""
    if task == "regression":
        return {store.PREDICTION: np.asarray(model.predict(features), dtype="float64")}
    classes = [str(name) for name in model.classes_]
    proba = np.asarray(model.predict_proba(features), dtype="float64")
    return {name: proba[:, classes.index(name)] for name in score_names(task, model.classes_)}


def logged_scores(rows: LiveRows | pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """The live rows' model version and scores (one column per name; NaN where the log has none). From the Arrow
    table of a LiveRows: at a million rows, pandas would make a dict of every row's probabilities."""
    if isinstance(rows, LiveRows):
        logged = store.PREDICTION if list(names) == [store.PREDICTION] else store.PROBABILITIES
        table = rows.table.select([store.MODEL_VERSION, logged]).filter(rows.keep)
        frame = pd.DataFrame({store.MODEL_VERSION: pc.dictionary_encode(table[store.MODEL_VERSION]).to_pandas()})
        column = table[logged].combine_chunks()
        for name in names:
            values = pc.cast(column, "float64") if name == store.PREDICTION else pc.struct_field(column, name)
            frame[name] = values.to_numpy(zero_copy_only=False)
        return frame
    frame = pd.DataFrame({store.MODEL_VERSION: rows[store.MODEL_VERSION].to_numpy()})
    for name in names:
        if name == store.PREDICTION:
            frame[name] = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype="float64")
        else:
            frame[name] = [np.nan if p is None else float(dict(p).get(name, np.nan)) for p in rows[store.PROBABILITIES]]
    return frame


def same_as_production(
    rows: LiveRows | pd.DataFrame,
    positions: np.ndarray,
    scores: pd.DataFrame,
    model: Any,
    task: str,
    hidden: Collection[str] = (),
) -> bool | None:
    """Whether the production model gives the scores logged on up to CHECKED_ROWS of these rows (positions among
    the live rows); None when the log keeps no value of one of its inputs (missing, or `hidden`: dropped or hashed)."""
    inputs = [str(name) for name in getattr(model, "feature_names_in_", [])]
    if not inputs or any(name not in rows.columns or name in hidden for name in inputs):
        return None
    rng = np.random.default_rng(SEED)
    chosen = np.sort(rng.choice(positions, min(CHECKED_ROWS, len(positions)), replace=False))
    if isinstance(rows, LiveRows):
        mask = np.zeros(len(rows), dtype=bool)
        mask[chosen] = True
        features = rows.where(mask, inputs)
    else:
        features = rows.iloc[chosen][inputs]
    expected = holdout_scores(model, features, task)
    logged = scores.iloc[chosen]
    return bool(
        all(np.allclose(expected[name], logged[name], rtol=1e-9, atol=SAME_MODEL_TOLERANCE) for name in expected)
    )


def score_drift(
    rows: LiveRows | pd.DataFrame,
    model: Any,
    holdout: pd.DataFrame,
    task: str,
    settings: DriftParams,
    hidden: Collection[str] = (),
) -> dict[str, ScoreDrift]:
    """Per model version: its logged scores against the production model's on its holdout (`holdout`: the model's
    input columns), the most severe score of a version's; {} when the log has no version or no score. `hidden`:
    inputs the log keeps no value of (serve.log_drop_columns, log_hash_columns)."""
    names = score_names(task, getattr(model, "classes_", None))
    needed = [store.MODEL_VERSION, store.PREDICTION if task == "regression" else store.PROBABILITIES]
    if rows.empty or any(name not in rows.columns for name in needed):
        return {}
    reference = holdout_scores(model, holdout, task)
    scores = logged_scores(rows, names)
    codes, uniques = pd.factorize(scores[store.MODEL_VERSION], sort=True)  # as text, 1M rows take 0.4 s
    versions = {str(version): codes == code for code, version in enumerate(uniques)}
    psi_limit = limits(settings)["psi"]
    tested: list[tuple[str, str, NumericStatistics]] = []
    for version, mine in versions.items():
        for name in names:
            values = scores[name].to_numpy()[mine]
            values = values[np.isfinite(values)]
            if len(values) >= settings.min_rows:
                statistics = numeric_statistics(reference[name], values, settings.bins, settings.alpha, psi_limit)
                tested.append((version, name, statistics))
    found: dict[str, ScoreDrift] = {}
    p_adjusted = adjust([statistics.p_value for _, _, statistics in tested], "bonferroni")
    for (version, name, statistics), adjusted in zip(tested, p_adjusted.tolist(), strict=True):
        entry = judged(name, statistics, adjusted, settings)
        if version in found and found[version].severity >= entry.severity:
            continue
        same = (
            found[version].same_as_production
            if version in found
            else same_as_production(rows, np.flatnonzero(versions[version]), scores, model, task, hidden)
        )
        found[version] = ScoreDrift(
            score="prediction" if name == store.PREDICTION else f"P({name})",
            rows=statistics.current.rows,
            reference_rows=statistics.reference.rows,
            ks_statistic=statistics.ks_statistic,
            psi=statistics.psi,
            p_value=adjusted,
            thresholds=dict(entry.thresholds),
            severity=entry.severity,
            drifted=entry.drift,
            same_as_production=same,
            counted=bool(entry.drift and same is not False),
        )
    return found
