"""Payment split c_i = phi_i / sum_j phi_j * c (paper section 2.1) under the keep and clip policies."""

import numpy as np
import pytest

from fastdatashapley.explainers.payout import POLICIES, split_payment


def test_keep_is_the_paper_formula():
    v = np.array([2.0, 1.0, -1.0])
    shares = split_payment(v, 10.0, "keep")
    assert np.allclose(shares, v / v.sum() * 10) and np.allclose(shares, [10, 5, -5])
    assert shares.sum() == pytest.approx(10)
    assert split_payment(v, 10.0).tolist() == shares.tolist()  # keep is the default


def test_clip_pays_only_positive_values():
    v = np.array([2.0, 1.0, -1.0, 0.0])
    shares = split_payment(v, 10.0, "clip")
    assert np.allclose(shares, [20 / 3, 10 / 3, 0, 0])
    assert (shares >= 0).all() and shares.sum() == pytest.approx(10)


def test_policies_agree_on_non_negative_values_and_scale():
    rng = np.random.default_rng(0)
    v = rng.uniform(0.1, 1, size=50)
    for policy in POLICIES:
        shares = split_payment(v, 3.0, policy)
        assert np.allclose(shares, v / v.sum() * 3.0)
        assert np.allclose(split_payment(7 * v, 3.0, policy), shares)  # invariant to the scale of the values
        assert np.allclose(split_payment(v, 6.0, policy), 2 * shares)  # linear in the amount


def test_undefined_splits_raise_and_name_the_reason():
    with pytest.raises(ValueError, match="sum to -0.5 under policy 'keep'"):
        split_payment(np.array([-1.0, 0.5]), 1.0, "keep")
    with pytest.raises(ValueError, match="sum to 0 under policy 'keep'"):
        split_payment(np.array([1.0, -1.0]), 1.0, "keep")
    assert np.allclose(split_payment(np.array([1.0, -1.0]), 1.0, "clip"), [1, 0])
    with pytest.raises(ValueError, match="policy 'clip'"):
        split_payment(np.array([-1.0, -0.5]), 1.0, "clip")
    with pytest.raises(ValueError, match="policy 'drop' is unknown"):
        split_payment(np.ones(3), 1.0, "drop")
    with pytest.raises(ValueError, match="values must be a finite vector"):
        split_payment(np.ones((2, 3)), 1.0)
    with pytest.raises(ValueError, match="values must be a finite vector"):
        split_payment(np.array([1.0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="amount"):
        split_payment(np.ones(3), float("inf"))
