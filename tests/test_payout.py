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


def test_providers_are_ranked_by_their_points_summed_values():
    from fastdatashapley.evaluation.providers import provider_ranking

    of_point = np.array([0, 1, 0, 2])  # provider "c" (3) owns no point
    per_sample = np.zeros((4, 2, 2))  # [n, T, m]; sample 0 read at label 1, sample 1 at label 0
    per_sample[:, 0, 1] = [1.0, 3.0, 1.0, -1.0]  # a: 2, b: 3, d: -1
    per_sample[:, 1, 0] = [2.0, 0.5, 2.0, 0.0]  # a: 4, b: 0.5, d: 0
    per_sample[:, 0, 0] = 99.0  # another label: never read
    table = provider_ranking({"fds": per_sample, "loo": np.array([0.0, 1.0, 0.0, 2.0])}, of_point,
                             ["a", "b", "d", "c"], np.array([1, 0]))
    fds = table[table["method"] == "fds"]
    assert fds["provider"].tolist() == ["a", "b", "c", "d"] and fds["rank"].tolist() == [1, 2, 3, 4]
    assert fds["mean_value"].tolist() == [3.0, 1.75, 0.0, -0.5] and fds["points"].tolist() == [2, 1, 0, 1]
    assert fds["top_share"].tolist() == [0.5, 0.5, 0.0, 0.0]
    loo = table[table["method"] == "loo"]  # global values: the same for every sample
    assert loo["provider"].tolist() == ["d", "b", "a", "c"] and loo["top_share"].tolist() == [1.0, 0, 0, 0]
    with pytest.raises(ValueError, match="values of fds have 3 training points, the providers 4"):
        provider_ranking({"fds": np.zeros(3)}, of_point, ["a", "b", "d", "c"], np.array([0]))
