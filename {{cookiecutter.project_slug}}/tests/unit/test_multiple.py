"""Multiple testing: the one Holm (and Bonferroni, Benjamini-Hochberg) that drift, the gate and monitor use."""

import numpy as np
import pytest
from scipy import stats

from {{ cookiecutter.package_name }}.multiple import adjust, holm


def test_holm_bonferroni_and_benjamini_hochberg_adjustments():
    p = [0.01, 0.04, 0.03, 0.005]
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust(p, "fdr_bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust(p, "none") == pytest.approx(p)


def test_holm_adjusts_step_down_and_stays_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([]) == []


def test_benjamini_hochberg_matches_scipy_stats():
    p = np.random.default_rng(8).uniform(0, 0.2, 40) ** 2
    assert adjust(p, "fdr_bh") == pytest.approx(stats.false_discovery_control(p, method="bh"), rel=1e-12)


def test_an_unknown_correction_is_refused():
    with pytest.raises(ValueError, match="unknown correction"):
        adjust([0.1, 0.2], "sidak")
