"""The slices that degrade: a planted drop on a 5 % slice is found and ranked first; with nothing planted, no
slice is reported (Benjamini-Hochberg across every slice tested). The full 100 seeds: benchmarks/estimate.py."""

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.monitor.slices import by_name, encode, search

CITIES = [f"c{k:02d}" for k in range(20)]  # 5 % of the rows each


def rows(seed: int, drop: float = 0.0, n: int = 3000) -> tuple[pd.DataFrame, np.ndarray]:
    """Four numbers, a plan and a city; the loss: a wrong class (half the rows labelled) or its expected value,
    at a 10 % error rate, `drop` more in city c07."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    frame["plan"] = rng.choice(["basic", "plus", "pro"], n, p=[0.5, 0.3, 0.2])
    frame["city"] = rng.choice(CITIES, n)
    rate = 0.10 + drop * (frame["city"] == "c07").to_numpy()
    realized = (rng.random(n) < rate).astype(float)
    expected = np.clip(rate + rng.normal(0, 0.02, n), 0, 1)
    return frame, np.where(rng.random(n) < 0.5, realized, expected)


def found(frame, loss, **settings):
    options = {"max_predicates": 2, "min_rows": 30, "top": 5, "alpha": 0.05, "confidence": 0.95} | settings
    return search(frame, loss, None, labelled=0, loss_name="loss", **options)


def test_numbers_are_binned_at_the_reference_deciles_and_missing_values_are_a_slice():
    codes, labels = encode("x", pd.Series([-5.0, 0.5, 50.0, None]), pd.Series(np.arange(100.0)))
    assert (labels[0], labels[-2], labels[-1]) == ("x < 9.9", "x >= 89.1", "x is missing")
    assert [labels[code] for code in codes] == ["x < 9.9", "x < 9.9", "49.5 <= x < 59.4", "x is missing"]


def test_a_planted_drop_on_a_5_percent_slice_ranks_first():
    first = [found(*rows(seed, drop=0.2)).found[:1] for seed in range(10)]
    assert sum(bool(top) and top[0].predicates == ("city = c07",) for top in first) >= 9
    slice_ = first[0][0]
    assert 0 < slice_.low <= slice_.gap <= slice_.high
    assert slice_.q_value < 0.05
    assert by_name(first[0])[0] == {
        "predicates": ["city = c07"],
        "n": slice_.n,
        "gap": slice_.gap,
        "low": slice_.low,
        "high": slice_.high,
        "q_value": slice_.q_value,
    }


def test_with_nothing_planted_no_slice_is_reported():
    searches = [found(*rows(100 + seed)) for seed in range(10)]
    assert sum(bool(result.found) for result in searches) == 0
    assert all(result.tested > 500 for result in searches)  # single predicates and pairs


def test_a_drop_on_a_pair_of_predicates_is_reported_as_the_pair():
    frame, loss = rows(5, n=6000)
    both = ((frame["plan"] == "pro") & (frame["x0"] > 0.8)).to_numpy()
    loss = np.where(both, np.clip(loss + 0.4, 0, 1), loss)
    top = found(frame, loss).found
    assert any(set(s.predicates) >= {"plan = pro"} and len(s.predicates) == 2 for s in top)
    assert all(s.n >= 30 for s in top)


def test_one_predicate_only_tests_no_pairs():
    frame, loss = rows(1, drop=0.2)
    assert found(frame, loss, max_predicates=1).tested < 100
