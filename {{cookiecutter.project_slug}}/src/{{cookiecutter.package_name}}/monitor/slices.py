"""The slices that degrade, found for you: subgroups of the monitored rows whose loss is above the rest's.

A slice is one predicate (a category of a column; a bin of a number between two of the reference's deciles; a
missing value) or, with `max_predicates` 2, two of them on different columns. Every slice with at least `min_rows`
rows is tested: its mean per-row loss (realized where the row has a label, else the one CBPE/DLE expects, see
estimate.py) against the other rows', with Welch's one-sided t-test (the loss is right-skewed, which makes the test
conservative on the upper side), and the p-values of all the slices tested get Benjamini-Hochberg q-values
(multiple.adjust). The gap is the slice's loss minus the overall loss, with its interval (not
adjusted for the search: the q-value is). Reported: the slices with q below 1 - confidence, the surest first
(the smallest p-value); a pair only when its gap's low end is above both of its predicates' own gaps (it adds
something to them).

Pure: tables and arrays in, frozen dataclasses out. Counting is np.bincount over each column's (or pair's) codes,
so 30 columns (435 pairs) of 100,000 rows take a fraction of a second.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import t as student

from ..multiple import adjust

MAX_CATEGORIES = 50  # a text column's most frequent values that are predicates; the rest are "other"
MISSING = "is missing"


@dataclass(frozen=True)
class Slice:
    """One slice that degrades: its predicates, rows, gap (its loss minus the overall loss) with the interval,
    and the Benjamini-Hochberg q-value across every slice tested."""

    predicates: tuple[str, ...]
    n: int
    loss: float
    gap: float
    low: float
    high: float
    q_value: float


@dataclass(frozen=True)
class SliceSearch:
    """What the search tested and found: monitor.json's `slices` (the found) and `slice_search` (the rest)."""

    loss: str  # what the per-row loss is
    rows: int  # the rows searched (a uniform sample of the window when it has more than monitor's cap)
    labelled: int  # of them, with a realized loss
    overall: float  # the mean loss of the rows
    tested: int  # slices with at least min_rows rows
    columns: tuple[str, ...]
    alpha: float  # q below this: reported
    found: tuple[Slice, ...] = ()


def _edges(reference: pd.Series) -> np.ndarray:
    """The reference's deciles (distinct, inner ones only)."""
    values = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return np.array([])
    return np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))


def _number(value: float) -> str:
    return f"{value:.4g}"


def encode(name: str, column: pd.Series, reference: pd.Series | None) -> tuple[np.ndarray, list[str]]:
    """Each row's predicate code within its column, and the predicates' text (the last may be MISSING)."""
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        edges = _edges(reference if reference is not None else column)
        codes = np.searchsorted(edges, values, side="right")
        bounds = [-math.inf, *edges, math.inf]
        labels = [
            f"{name} < {_number(high)}"
            if low == -math.inf
            else f"{name} >= {_number(low)}"
            if high == math.inf
            else f"{_number(low)} <= {name} < {_number(high)}"
            for low, high in itertools.pairwise(bounds)
        ]
        missing = ~np.isfinite(values)
    else:
        text = column.astype(object)
        missing = text.isna().to_numpy()
        present = text[~missing].astype(str)
        kept = list(present.value_counts().index[:MAX_CATEGORIES])
        lookup = {value: code for code, value in enumerate(kept)}
        codes = np.full(len(text), len(kept), dtype=np.int64)  # the rest: one slice, "another value"
        codes[~missing] = present.map(lookup).fillna(len(kept)).to_numpy(dtype=np.int64)
        labels = [f"{name} = {value}" for value in kept] + [f"{name} is another value"]
    codes = np.asarray(codes, dtype=np.int64)
    codes[missing] = len(labels)
    return codes, [*labels, f"{name} {MISSING}"]


def _tests(
    counts: np.ndarray, sums: np.ndarray, squares: np.ndarray, total: tuple[int, float, float], min_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: gap to the overall mean, its standard error, the one-sided p-value (worse than the rest) and
    whether it is tested; Welch's t of the cell against the rest of the rows."""
    n_all, s_all, q_all = total
    mean_all = s_all / n_all
    tested = (counts >= min_rows) & (counts <= n_all - min_rows)
    n = np.where(tested, counts, 2.0)
    rest = np.where(tested, n_all - counts, 2.0)
    mean = sums / n
    mean_rest = (s_all - sums) / rest
    var = np.maximum((squares - n * mean**2) / (n - 1), 0.0)
    var_rest = np.maximum((q_all - squares - rest * mean_rest**2) / (rest - 1), 0.0)
    floor = 1e-12 + 1e-6 * (q_all / n_all - mean_all**2)  # a slice of identical losses still has a finite t
    a, b = np.maximum(var, floor) / n, np.maximum(var_rest, floor) / rest
    se = np.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / (n - 1) + b**2 / (rest - 1))
    p = student.sf((mean - mean_rest) / se, df)
    share_rest = rest / n_all  # gap = (1 - n / N) * (slice mean - rest's mean)
    return share_rest * (mean - mean_rest), share_rest * se, np.where(tested, p, 1.0), tested & np.isfinite(p)


@dataclass(frozen=True)
class Block:
    """The slices tested on one column or pair of columns: which cells (among their codes' product) and their rows."""

    parts: tuple[int, ...]
    cells: np.ndarray
    rows: np.ndarray


@dataclass(frozen=True)
class Tests:
    """Every slice tested, block after block: gap, standard error, p-value, q-value, and the single predicates'
    gaps."""

    gaps: np.ndarray
    ses: np.ndarray
    ps: np.ndarray
    qs: np.ndarray
    blocks: list[Block]
    singles: dict[tuple[int, int], float]  # (column, code): the gap of that predicate alone

    @functools.cached_property
    def ends(self) -> np.ndarray:
        """Where each block's slices end in the flat arrays."""
        return np.cumsum([len(block.cells) for block in self.blocks])

    def key(self, k: int) -> tuple[tuple[int, ...], int, int]:
        """The k-th slice tested: its columns, its cell among their codes, its rows."""
        index = int(np.searchsorted(self.ends, k, side="right"))
        block, at = self.blocks[index], k - (int(self.ends[index - 1]) if index else 0)
        return block.parts, int(block.cells[at]), int(block.rows[at])


def _select(
    tests: Tests, encoded: list[tuple[np.ndarray, list[str]]], overall: float, z: float, alpha: float, top: int
) -> list[Slice]:
    """The `top` slices with q < alpha and a positive gap, the smallest p-value first (then the largest gap); a
    pair only when its gap's low end is above the gap of each of its predicates alone."""
    found: list[Slice] = []
    for k in np.lexsort((-tests.gaps, tests.ps)):
        gap, half = float(tests.gaps[k]), z * float(tests.ses[k])
        if tests.qs[k] >= alpha or gap <= 0:
            continue
        parts, cell, n = tests.key(int(k))
        predicates: tuple[str, ...]
        if len(parts) == 1:
            predicates = (encoded[parts[0]][1][cell],)
        else:
            a, b = divmod(cell, len(encoded[parts[1]][1]))
            alone = max(tests.singles.get((parts[0], a), -math.inf), tests.singles.get((parts[1], b), -math.inf))
            if gap - half <= alone:
                continue  # the pair adds nothing to one of its predicates alone
            predicates = (encoded[parts[0]][1][a], encoded[parts[1]][1][b])
        found.append(
            Slice(
                predicates,
                n,
                round(overall + gap, 6),
                round(gap, 6),
                round(gap - half, 6),
                round(gap + half, 6),
                float(f"{tests.qs[k]:.4g}"),
            )
        )
        if len(found) >= top:
            break
    return found


def search(
    frame: pd.DataFrame,
    loss: np.ndarray,
    reference: pd.DataFrame | None,
    *,
    labelled: int,
    loss_name: str,
    max_predicates: int,
    min_rows: int,
    top: int,
    alpha: float,
    confidence: float,
) -> SliceSearch:
    """The slices of `frame`'s columns (numbers binned at `reference`'s deciles) whose mean `loss` is above the
    rest's, q-value < alpha (Benjamini-Hochberg across every slice tested), the `top` surest first."""
    columns = [str(name) for name in frame.columns]
    loss = np.asarray(loss, dtype=float)
    total = (len(loss), float(loss.sum()), float((loss**2).sum()))
    empty = SliceSearch(loss_name, len(loss), labelled, math.nan, 0, tuple(columns), alpha)
    if len(loss) < 2 * min_rows or not columns:
        return empty if not len(loss) else SliceSearch(**{**empty.__dict__, "overall": total[1] / total[0]})
    encoded = [encode(name, frame[name], None if reference is None else reference.get(name)) for name in columns]
    gaps: list[np.ndarray] = []
    ses: list[np.ndarray] = []
    ps: list[np.ndarray] = []
    blocks: list[Block] = []
    singles: dict[tuple[int, int], float] = {}  # (column, code): the gap of that predicate alone
    squared = loss**2

    def add(parts: tuple[int, ...], codes: np.ndarray, size: int) -> None:
        counts = np.bincount(codes, minlength=size).astype(float)
        sums = np.bincount(codes, weights=loss, minlength=size)
        squares = np.bincount(codes, weights=squared, minlength=size)
        gap, se, p, tested = _tests(counts, sums, squares, total, min_rows)
        cells = np.flatnonzero(tested)
        if len(parts) == 1:
            singles.update({(parts[0], int(cell)): float(gap[cell]) for cell in cells})
        blocks.append(Block(parts, cells, counts[cells].astype(np.int64)))
        gaps.append(gap[cells])
        ses.append(se[cells])
        ps.append(p[cells])

    for index, (codes, labels) in enumerate(encoded):
        add((index,), codes, len(labels))
    if max_predicates >= 2:
        for (i, (codes_i, labels_i)), (j, (codes_j, labels_j)) in itertools.combinations(enumerate(encoded), 2):
            add((i, j), codes_i * len(labels_j) + codes_j, len(labels_i) * len(labels_j))
    overall = total[1] / total[0]
    every_p = np.concatenate(ps)
    if not len(every_p):
        return SliceSearch(loss_name, len(loss), labelled, overall, 0, tuple(columns), alpha)
    q = adjust(every_p, "fdr_bh")
    z = float(student.ppf(0.5 + confidence / 2, df=1e6))
    tests = Tests(np.concatenate(gaps), np.concatenate(ses), every_p, q, blocks, singles)
    found = _select(tests, encoded, overall, z, alpha, top)
    tested = len(every_p)
    return SliceSearch(loss_name, len(loss), labelled, round(overall, 6), tested, tuple(columns), alpha, tuple(found))


def by_name(found: tuple[Slice, ...]) -> list[Mapping[str, object]]:
    """monitor.json's `slices`: {predicates, n, gap, low, high, q_value} per slice found."""
    return [
        {"predicates": list(s.predicates), "n": s.n, "gap": s.gap, "low": s.low, "high": s.high, "q_value": s.q_value}
        for s in found
    ]
