"""Multiple testing: p-values adjusted when one verdict rests on many tests (the one implementation).

Used by the drift check across columns (monitor/drift.py), score drift across versions and scores
(monitor/score_drift.py), the gate across slices (gate/slices.py), the search for degrading slices
(monitor/slices.py, Benjamini-Hochberg) and live performance across the gate's metric and guardrails
(monitor/performance.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Correction = Literal["holm", "bonferroni", "fdr_bh", "none"]


def adjust(p_values: Sequence[float] | np.ndarray, method: str = "holm") -> np.ndarray:
    """p-values adjusted for testing many hypotheses: holm, bonferroni, fdr_bh (Benjamini-Hochberg) or none."""
    p = np.asarray(p_values, dtype="float64")
    if method == "none" or p.size == 0:
        return p
    if method == "bonferroni":
        capped: np.ndarray = np.minimum(p * p.size, 1.0)
        return capped
    order = np.argsort(p, kind="stable")
    if method == "fdr_bh":  # step-up: the k-th smallest p times m / k, kept monotone from the top
        stepped = np.minimum.accumulate((p[order] * p.size / np.arange(1, p.size + 1))[::-1])[::-1]
    elif method == "holm":  # step-down: the k-th smallest p times (m - k + 1), kept monotone
        stepped = np.maximum.accumulate(p[order] * (p.size - np.arange(p.size)))
    else:
        raise ValueError(f"unknown correction {method!r}")
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: each p-value times the number of hypotheses not yet rejected, kept monotone."""
    return [float(value) for value in adjust(p_values, "holm")]
