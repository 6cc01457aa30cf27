"""fastdatashapley.evaluation.accuracy.compare against values whose agreement is known in closed form."""

import numpy as np
import pytest
from scipy.stats import rankdata

from fastdatashapley.evaluation.accuracy import compare


@pytest.fixture
def exact():
    return np.random.default_rng(0).normal(size=(10, 4, 3))  # [n, S, m]


LABELS = np.array([0, 2, 1, 2])


def test_identical_values_agree_perfectly(exact):
    out = compare(exact, exact, LABELS)
    assert {k: out[k] for k in ("pearson", "spearman", "rel_l2", "n_samples")} == pytest.approx(
        {"pearson": 1.0, "spearman": 1.0, "rel_l2": 0.0, "n_samples": 4})
    assert out["pearson_ci_low"] == pytest.approx(1.0) and out["rel_l2_ci_high"] == pytest.approx(0.0)


def test_scaling_keeps_correlation_and_sets_the_relative_error(exact):
    out = compare(3.0 * exact, exact, LABELS)
    assert out["pearson"] == pytest.approx(1.0) and out["spearman"] == pytest.approx(1.0)
    assert out["rel_l2"] == pytest.approx(2.0)


def test_only_each_samples_own_label_counts(exact):
    other = exact.copy()
    for s, y in enumerate(LABELS):
        other[:, s, (y + 1) % 3] = -exact[:, s, (y + 1) % 3]  # another label's values reversed: ignored
    assert compare(other, exact, LABELS)["pearson"] == pytest.approx(1.0)


def test_negated_values_and_a_monotone_map(exact):
    neg = compare(-exact, exact, LABELS)
    assert neg["pearson"] == pytest.approx(-1.0) and neg["rel_l2"] == pytest.approx(2.0)
    cubed = compare(exact**3, exact, LABELS)
    assert cubed["spearman"] == pytest.approx(1.0) and cubed["pearson"] < 1.0
    cols = np.arange(4)
    want = np.mean([np.corrcoef(rankdata(exact[:, s, y] ** 3), rankdata(exact[:, s, y]))[0, 1] for s, y in zip(cols, LABELS)])
    assert cubed["spearman"] == pytest.approx(want)


def test_shape_mismatch_names_both_shapes(exact):
    with pytest.raises(ValueError, match=r"estimate \[10, 4, 2\] and exact \[10, 4, 3\]"):
        compare(exact[..., :2], exact, LABELS)
