"""What each drift effect size reaches by chance alone, at the sample sizes at hand: its null distribution.

A fixed threshold means something else at every n: with 50 current rows and 10 bins, PSI averages 0.23 when
nothing changed at all, and a 60-category column's Jensen-Shannon distance is above 0.1 in every sample of 200.
So each effect size is also judged against the (1 - alpha) quantile of its own null distribution at the two
sample sizes, and drift.py takes the larger of that and the configured threshold:
- KS: the asymptotic critical value of the two-sample statistic (distribution-free), no simulation;
- PSI (on the column's bins) and Jensen-Shannon (on its categories): a permutation null, drawn all at once
  (the current side's counts are multivariate hypergeometric given the two sides' totals), skipped where the
  chi-square approximation puts the quantile far below any threshold (large n: no cost there);
- new categories: the reference split, the share of a sample of the current n (at most half the reference)
  whose values the rest of the reference never holds: what a long tail of rare values shows by itself.
The chi-square test's p-value is computed on the table with its sparse categories (expected count below 5)
pooled, where the asymptotic law holds: on the raw table of a 60-category Zipf column it rejected 11 % at 5 %.

Seeded (SEED): the same data gives the same thresholds. Pure functions on count arrays.
"""

from __future__ import annotations

import numpy as np
from scipy import special

SEED = 20_240_527  # every null is drawn from this seed: the same data, the same thresholds
NULL_DRAWS = 1000  # draws of a permutation null (fewer for wide tables: NULL_CELLS)
NULL_CELLS = 200_000  # draws x categories per null at most (200 draws at least): bounds the time on wide columns
MIN_EXPECTED = 5.0  # chi-square: categories expected fewer rows than this on either side are pooled
SKIP_BELOW = 0.25  # no simulation where the chi-square approximation puts the quantile under this share of the limit
PROPORTION_FLOOR = 1e-4  # as stats.PSI's: empty bins would make PSI infinite


def upper_threshold(draws: np.ndarray, alpha: float) -> float:
    """The smallest t with at most alpha of the draws at or above it (a discrete null's quantile, rounded up)."""
    ordered = np.sort(draws)
    reaching = len(ordered) - np.searchsorted(ordered, ordered, side="left")  # draws >= each draw
    within = np.flatnonzero(reaching <= alpha * len(ordered))
    return float(ordered[within[0]]) if len(within) else float(np.nextafter(ordered[-1], np.inf))


def ks_threshold(n_reference: int, n_current: int, alpha: float) -> float:
    """The two-sample KS statistic's (1 - alpha) quantile under no change (Kolmogorov's limit law)."""
    if not n_reference or not n_current:
        return 0.0
    return float(special.kolmogi(alpha) * np.sqrt((n_reference + n_current) / (n_reference * n_current)))


def psi_rows(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """PSI of each row pair of two count arrays (draws x bins), shares floored as stats.psi does."""
    ref = np.maximum(reference / np.maximum(reference.sum(axis=-1, keepdims=True), 1), PROPORTION_FLOOR)
    cur = np.maximum(current / np.maximum(current.sum(axis=-1, keepdims=True), 1), PROPORTION_FLOOR)
    values: np.ndarray = np.sum((cur - ref) * np.log(cur / ref), axis=-1)
    return values


def js_rows(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2) of each row pair of two count arrays (draws x categories)."""
    p = reference / np.maximum(reference.sum(axis=-1, keepdims=True), 1)
    q = current / np.maximum(current.sum(axis=-1, keepdims=True), 1)
    middle = (p + q) / 2
    divergence = (special.rel_entr(p, middle).sum(axis=-1) + special.rel_entr(q, middle).sum(axis=-1)) / 2
    distances: np.ndarray = np.sqrt(np.maximum(divergence, 0.0) / np.log(2))
    return distances


def _approximate_quantile(cells: int, n_reference: int, n_current: int, alpha: float) -> float:
    """The null (1 - alpha) quantile of the symmetric divergence sum (p - q) ln(p / q) ~ chi2_(k-1) (1/n + 1/m)."""
    return float(special.chdtri(max(cells - 1, 1), alpha) * (1 / n_reference + 1 / n_current))


def permutation_thresholds(table: np.ndarray, alpha: float, limits: dict[str, float]) -> dict[str, float]:
    """The (1 - alpha) null quantiles of PSI and of the Jensen-Shannon distance of a 2 x k count table (reference,
    current), for those named in `limits` (name -> its configured threshold): 0.0 where the chi-square approximation
    puts the quantile under SKIP_BELOW of the threshold, which then decides alone."""
    n_reference, n_current = int(table[0].sum()), int(table[1].sum())
    totals = table.sum(axis=0)
    cells = int((totals > 0).sum())
    if cells < 2 or not n_reference or not n_current:
        return dict.fromkeys(limits, 0.0)
    approximate = _approximate_quantile(cells, n_reference, n_current, alpha)
    # JS divergence (nats) ~ (p - q)^2 / (8 m): an eighth of the symmetric divergence, and a square root in bits
    approximations = {"psi": approximate, "js_distance": float(np.sqrt(approximate / (8 * np.log(2))))}
    wanted = [name for name, limit in limits.items() if approximations[name] >= SKIP_BELOW * limit]
    # Sparse cells are where the approximation fails (it assumes every cell well filled): simulate then.
    expected_small = bool(totals[totals > 0].min() * min(n_reference, n_current) / totals.sum() < MIN_EXPECTED)
    if expected_small:
        wanted = list(limits)
    thresholds = dict.fromkeys(limits, 0.0)
    if not wanted:
        return thresholds
    rng = np.random.default_rng(SEED)
    draws = int(min(NULL_DRAWS, max(200, NULL_CELLS // cells)))
    filled = totals[totals > 0]
    # numpy's "count" draws row by row (~13 ns a row), "marginals" category by category (~100 ns each)
    small = min(n_current, n_reference) < 8 * cells and filled.sum() <= 10_000_000
    current = rng.multivariate_hypergeometric(filled, n_current, size=draws, method="count" if small else "marginals")
    reference = filled - current
    for name in wanted:
        null = psi_rows(reference, current) if name == "psi" else js_rows(reference, current)
        thresholds[name] = upper_threshold(null, alpha)
    return thresholds


def new_share_threshold(reference_counts: np.ndarray, n_current: int, alpha: float) -> float:
    """The (1 - alpha) quantile of the share of a sample of n_current reference rows (at most half the reference)
    whose values the rest of the reference never holds: the new-category share that a long tail shows by itself.

    A category of c rows is wholly in a sample of m of N rows with probability about (m / N)^c; categories are
    treated as independent (binomial counts per size c), which errs on the side of a higher threshold.
    """
    counts = reference_counts[reference_counts > 0]
    total = int(counts.sum())
    sample = min(n_current, total // 2)
    if sample < 1:
        return 0.0
    sizes, how_many = np.unique(counts, return_counts=True)
    chance = (sample / total) ** sizes.astype("float64")
    if float(np.sum(how_many * chance)) < 1e-3 * alpha:  # no category is ever wholly in the sample
        return 0.0
    rng = np.random.default_rng(SEED)
    whole = rng.binomial(how_many, chance, size=(NULL_DRAWS, len(sizes)))
    shares: np.ndarray = np.minimum(whole @ sizes, sample) / sample
    return upper_threshold(shares, alpha)


def pooled(table: np.ndarray) -> np.ndarray:
    """A 2 x k count table with its sparse categories (expected count below MIN_EXPECTED on either side) pooled
    into one, and that one merged into the smallest other category while it is still sparse itself."""
    totals = table.sum(axis=0)
    smaller = table.sum(axis=1).min()
    if not smaller:
        return table
    floor = MIN_EXPECTED * totals.sum() / smaller  # a category's total below this is expected < 5 rows somewhere
    sparse = totals < floor
    if not sparse.any():
        return table
    kept = table[:, ~sparse]
    rest = table[:, sparse].sum(axis=1, keepdims=True)
    if rest.sum() < floor and kept.shape[1]:
        smallest = int(np.argmin(kept.sum(axis=0)))
        kept = kept.copy()
        kept[:, smallest : smallest + 1] += rest
        return kept
    return np.hstack([kept, rest])
