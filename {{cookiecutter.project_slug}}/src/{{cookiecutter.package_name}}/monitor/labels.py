"""Labels are checked before they train: a batch of ground truth far outside what the production model expects is
a labelling problem (a bug, a swapped column, a prankster behind POST /feedback), not drift, and never reaches the
training data or the retrain's holdout.

Three measures, each against what is known to be right:
- the production model's error on the batch (its logged predictions against the labels: 1 - accuracy, or the
  mean absolute error) against its error on its holdout. Real drift raises the error too, so only a batch more
  than `monitor.label_error_ratio` times worse is refused (for a classifier, against at least a 5 % error: a
  near-perfect model's holdout would otherwise refuse any change);
- the same error against the one the model would have if its predictions had nothing to do with the labels (the
  pairs shuffled, SHUFFLES times): drift can take a model's skill away, not turn it upside down, so a batch worse
  than no skill by NO_SKILL_Z of the shuffles' standard deviations is refused. This is the measure that holds for
  a weak model, whose holdout error times the ratio passes any error (a limit above 1 for a classifier);
  labels shuffled at random, as bad as no skill but no worse, stay indistinguishable from a model drift has
  defeated, and pass;
- for the batch's rows whose features equal a row of the training data, the share whose label differs from the
  label already known for it: more than half, on at least ten such rows, is refused whatever the model says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

CLASSIFIER_ERROR_FLOOR = 0.05  # the holdout error a classifier's limit is computed from, at the least
KNOWN_ROWS = 10  # rows with a known label that make the second measure count
KNOWN_DISAGREEMENT = 0.5  # ... and the share of them whose label differs that refuses the batch
SHUFFLES = 50  # shuffles of the batch's predictions against its labels that measure the no-skill error
NO_SKILL_Z = 4.0  # the standard deviations of the shuffled errors above their mean that refuse a batch


@dataclass(frozen=True)
class LabelCheck:
    """The batch's labels against the production model and the labels already known; refused or not, and why."""

    rows: int
    error: float  # the production model's error on the batch (1 - accuracy, or the mean absolute error)
    holdout_error: float | None  # ... on its holdout (None: unknown, the first measure is skipped)
    limit: float | None
    no_skill_error: float | None  # ... if its predictions were unrelated to the labels (None: too few rows)
    no_skill_limit: float | None  # an error above this is worse than no skill: refused
    known_rows: int  # batch rows whose features equal a training row
    known_disagreement: float | None  # the share of those whose label differs from the known one
    refused: bool
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The JSON form (reports/dataset.json's `labels`)."""
        return asdict(self)


def _values(series: pd.Series, task: str) -> np.ndarray:
    values: np.ndarray = series.astype(str).to_numpy() if task == "classification" else series.astype(float).to_numpy()
    return values


def _error(labels: np.ndarray, predictions: np.ndarray, task: str) -> float:
    if task == "classification":
        return float((labels != predictions).mean())
    return float(np.mean(np.abs(labels - predictions)))


def model_error(labels: pd.Series, predictions: pd.Series, task: str) -> float:
    """1 - accuracy for a classifier, the mean absolute error for a regressor (0 for no rows: check_labels refuses
    no batch under monitor.min_labels rows)."""
    if len(labels) == 0:
        return 0.0
    return _error(_values(labels, task), _values(predictions, task), task)


def no_skill_error(labels: pd.Series, predictions: pd.Series, task: str, seed: int = 0) -> tuple[float, float]:
    """The model's error on the batch were its predictions unrelated to the labels: the mean and the standard
    deviation of model_error over SHUFFLES seeded shuffles of the predictions against the labels."""
    truth, said = _values(labels, task), _values(predictions, task)
    rng = np.random.default_rng(seed)
    errors = [_error(truth, rng.permutation(said), task) for _ in range(SHUFFLES)] if len(truth) else [0.0]
    return float(np.mean(errors)), float(np.std(errors, ddof=1)) if len(errors) > 1 else 0.0


def known_label_disagreement(batch: pd.DataFrame, known: pd.DataFrame, features: list[str], target: str) -> pd.Series:
    """For each batch row whose features equal a known row's: whether its label differs (a boolean Series over the
    matched batch rows; a feature row known with several labels counts as agreeing with any of them)."""
    columns = [name for name in features if name in batch.columns and name in known.columns]
    if not columns or known.empty:
        return pd.Series(dtype=bool)
    key = "__features__"
    known_keys = pd.util.hash_pandas_object(known[columns], index=False).to_numpy()
    batch_keys = pd.util.hash_pandas_object(batch[columns], index=False).to_numpy()
    seen = pd.DataFrame({key: known_keys, "label": known[target].astype(str).to_numpy()}).drop_duplicates()
    candidates = pd.DataFrame(
        {key: batch_keys, "label": batch[target].astype(str).to_numpy(), "row": range(len(batch))}
    )
    matched = candidates[candidates[key].isin(seen[key])]
    agreeing = matched.merge(seen, on=[key, "label"], how="inner")["row"].unique()
    return pd.Series(~matched["row"].isin(agreeing).to_numpy(), index=matched["row"].to_numpy())


def check_labels(
    error: float,
    rows: int,
    holdout_error: float | None,
    disagreement: pd.Series,
    task: str,
    ratio: float | None,
    min_rows: int,
    no_skill: tuple[float, float] | None = None,
) -> LabelCheck:
    """Whether a batch of `rows` labels is refused: by the production model's error on it against its holdout
    error times `ratio`, or against its error with no skill (`no_skill`: no_skill_error's mean and standard
    deviation), or by the labels already known for its rows. Fewer than `min_rows` rows: never refused."""
    floor = CLASSIFIER_ERROR_FLOOR if task == "classification" else 0.0
    limit = None if ratio is None or holdout_error is None else ratio * max(holdout_error, floor)
    chance = None if ratio is None or no_skill is None or rows < min_rows else no_skill[0]
    chance_limit = None if chance is None or no_skill is None else chance + NO_SKILL_Z * no_skill[1]
    known = int(len(disagreement))
    share = float(disagreement.mean()) if known else None
    reasons = []
    what = "disagrees with" if task == "classification" else "is off by a mean of"
    value = f"{error:.0%} of them" if task == "classification" else f"{error:.4g}"
    if rows >= min_rows and limit is not None and error > limit:
        held = f"{holdout_error:.1%}" if task == "classification" else f"{holdout_error:.4g}"
        reasons.append(f"the production model {what} {value} against {held} on its holdout (limit {limit:.4g})")
    elif chance is not None and chance_limit is not None and error > chance_limit:
        blind = f"{chance:.1%}" if task == "classification" else f"{chance:.4g}"
        reasons.append(
            f"the production model {what} {value}, worse than the {blind} of predictions unrelated to the labels "
            f"(limit {chance_limit:.4g})"
        )
    if known >= KNOWN_ROWS and share is not None and share > KNOWN_DISAGREEMENT:
        reasons.append(f"{share:.0%} of the {known} rows already known carry another label than the known one")
    reason = "; ".join(reasons) + (": a labelling problem, not drift" if reasons else "")
    return LabelCheck(rows, error, holdout_error, limit, chance, chance_limit, known, share, bool(reasons), reason)
