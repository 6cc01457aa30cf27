"""The field's yardsticks against known answers: LDS, mislabel detection, bootstrap CI, Wilcoxon, figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import fastdatashapley
from fastdatashapley.evaluation.lds import lds, lds_own_label, lds_summary
from fastdatashapley.evaluation.mislabel import (bootstrap_aurocs, detection, detection_curve, flip_labels,
                                                 mislabel_summary, own_label_values, point_scores)
from fastdatashapley.evaluation.figures import plot_budget_curve, plot_detection_curves
from fastdatashapley.evaluation.stats import bootstrap_ci, seeds_summary, wilcoxon_p
from fastdatashapley.games.coalitions import alpha_subsets
from games import additive


def _additive_table(n: int, t: int, m_subsets: int, seed: int = 0):
    """Held-out masks [M, n], per-sample weights w [n, T] (the exact Shapley values), utilities [M, T], null [T]."""
    rng = np.random.default_rng(seed)
    w, v0 = rng.normal(size=(n, t)), rng.normal(size=t)
    masks = alpha_subsets(n, m_subsets, 0.5, seed=seed)
    utility, exact = additive(w)
    return masks, exact, v0 + utility(masks), v0


# ---- LDS ----

def test_lds_masks_are_seeded_and_never_empty_or_full():
    a, b = alpha_subsets(3, 200, 0.5, seed=7), alpha_subsets(3, 200, 0.5, seed=7)
    assert a.dtype == bool and a.shape == (200, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, alpha_subsets(3, 200, 0.5, seed=8))
    sizes = a.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= 2  # n = 3: a quarter of plain draws would be empty or full
    big = alpha_subsets(400, 50, 0.3, seed=0)
    assert abs(big.mean() - 0.3) < 0.02


def test_lds_of_exact_shapley_of_an_additive_game_is_one():
    masks, exact, utilities, v0 = _additive_table(n=12, t=30, m_subsets=40)
    np.testing.assert_allclose(lds(exact, masks, utilities, v0), 1.0, atol=1e-12)
    np.testing.assert_allclose(lds(-exact, masks, utilities, v0), -1.0, atol=1e-12)
    global_w = exact[:, 0]  # a global vector [n] broadcast: exact for sample 0 only
    scores = lds(global_w, masks, utilities, v0)
    assert scores[0] == pytest.approx(1.0) and np.all(scores[1:] < 1.0)


def test_lds_of_random_values_is_about_zero():
    masks, _, utilities, v0 = _additive_table(n=20, t=400, m_subsets=50, seed=1)
    scores = lds(np.random.default_rng(2).normal(size=(20, 400)), masks, utilities, v0)
    # Random values are independent of the game: each LDS has mean 0 (phi -> -phi flips its sign), and the
    # 400 samples are independent given the masks, so the mean is 0 within a few standard errors.
    se = scores.std(ddof=1) / np.sqrt(scores.size)
    assert se < 0.03 and abs(scores.mean()) < 4 * se


def test_lds_nan_policy_and_summary():
    masks, exact, utilities, v0 = _additive_table(n=6, t=4, m_subsets=10)
    exact[:, 1] = 0.0  # constant prediction
    scores = lds(exact, masks, utilities, v0)
    assert np.isnan(scores[1]) and np.allclose(scores[[0, 2, 3]], 1.0)
    summary = lds_summary(scores, n_boot=200)
    assert summary["n_undefined"] == 1 and summary["n_samples"] == 4 and summary["mean"] == pytest.approx(1.0)


def test_lds_own_label_selects_each_samples_label():
    rng = np.random.default_rng(3)
    n, t, m, m_subsets = 8, 5, 3, 20
    masks, w = alpha_subsets(n, m_subsets, 0.5, seed=3), rng.normal(size=(n, t, m))
    null = rng.normal(size=(t, m))
    utilities = null + np.einsum("kn,ntm->ktm", masks.astype(float), w)
    labels = np.array([0, 1, 2, 1, 0])
    wrong = w[:, :, ::-1].copy()
    wrong[:, np.arange(t), labels] = w[:, np.arange(t), labels]  # agrees with w only at the own labels
    np.testing.assert_allclose(lds_own_label(wrong, labels, masks, utilities, null), 1.0, atol=1e-12)
    with pytest.raises(ValueError, match="labels"):
        lds_own_label(w, labels + 1, masks, utilities, null)


# ---- mislabel detection ----

def test_flip_labels_counts_targets_and_seed():
    y = np.random.default_rng(0).integers(0, 5, size=5000)
    noisy, idx = flip_labels(y, 0.5, 5, seed=1)
    assert idx.size == round(0.5 * 5000) and np.unique(idx).size == idx.size
    assert np.all(noisy[idx] != y[idx]) and np.array_equal(np.flatnonzero(noisy != y), idx)
    table = np.zeros((5, 5))
    np.add.at(table, (y[idx], noisy[idx]), 1)
    expected = np.repeat(table.sum(1, keepdims=True) / 4, 5, axis=1)
    off = ~np.eye(5, dtype=bool)
    assert st.chisquare(table[off], expected[off], ddof=4).pvalue > 1e-3  # 20 cells, 5 row totals fixed: 15 dof
    again, idx2 = flip_labels(y, 0.5, 5, seed=1)
    assert np.array_equal(again, noisy) and np.array_equal(idx, idx2)
    assert not np.array_equal(flip_labels(y, 0.5, 5, seed=2)[1], idx)
    assert flip_labels(y[:30], 0.1, 5, seed=0)[1].size == 3 and flip_labels(y, 0.0, 5)[1].size == 0


def test_perfect_ranking_gives_auroc_and_f1_one():
    n, flipped = 50, np.array([3, 17, 20, 41])
    scores = np.random.default_rng(0).random(n)
    scores[flipped] = -1.0 - np.arange(flipped.size)
    result = detection(scores, flipped, n)
    assert result == {"auroc": 1.0, "f1_at_k": 1.0, "n_flipped": 4}
    assert detection(-scores, flipped, n)["auroc"] == 0.0


def test_random_scores_give_auroc_one_half_and_ties_count_half():
    aurocs = [detection(np.random.default_rng(s).random(200), np.arange(20), 200)["auroc"] for s in range(200)]
    assert abs(np.mean(aurocs) - 0.5) < 0.02  # per-seed sd ~ 0.068, so the mean's sd ~ 0.005
    tied = detection(np.zeros(10), np.array([2, 5]), 10)
    assert tied["auroc"] == 0.5 and tied["f1_at_k"] == 0.0  # ties broken by index: points 0 and 1 flagged
    assert detection(np.zeros(10), np.array([0, 1]), 10)["f1_at_k"] == 1.0


def test_detection_curve_endpoints_and_monotone():
    scores = np.random.default_rng(4).normal(size=30)
    x, y = detection_curve(scores, np.array([1, 7, 8, 22]))
    assert x.shape == y.shape == (31,) and (x[0], y[0], x[-1], y[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(x) > 0) and np.all(np.diff(y) >= 0)


def test_point_scores_average_own_label_values():
    values = np.zeros((4, 3, 2))
    values[:, :, 0], values[:, :, 1] = 1.0, -1.0
    np.testing.assert_allclose(point_scores(values, np.array([0, 0, 1])), 1.0 / 3.0)
    assert np.array_equal(point_scores(np.arange(4.0)), np.arange(4.0))


def test_random_per_sample_values_give_auroc_one_half_over_seeds():
    aurocs = []
    for s in range(200):
        rng = np.random.default_rng(s)
        scores = point_scores(rng.normal(size=(100, 10, 10)), rng.integers(0, 10, size=10))
        aurocs.append(detection(scores, np.sort(rng.choice(100, 10, replace=False)), 100)["auroc"])
    assert abs(np.mean(aurocs) - 0.5) < 0.02  # per-seed sd ~ 0.096, so the mean's sd ~ 0.007


def test_own_label_values_pick_each_samples_label():
    values = np.arange(3 * 2 * 4, dtype=float).reshape(3, 2, 4)
    np.testing.assert_array_equal(own_label_values(values, np.array([1, 3])), values[:, [0, 1], [1, 3]])
    np.testing.assert_allclose(point_scores(values, np.array([1, 3])), own_label_values(values, [1, 3]).mean(1))


def test_bootstrap_aurocs_of_two_samples_hand_case():
    # n = 2 points (0 flipped), T = 2 samples that rank them oppositely. A replicate draws sample 0 twice
    # (p = 1/4, AUROC 1), sample 1 twice (p = 1/4, AUROC 0) or one of each (p = 1/2, a tie, AUROC 1/2).
    per_sample, flipped = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0])
    boots = bootstrap_aurocs(per_sample, flipped, n_boot=4000, seed=3)
    freq = [np.mean(boots == a) for a in (0.0, 0.5, 1.0)]
    assert sum(freq) == 1.0 and np.allclose(freq, [0.25, 0.5, 0.25], atol=0.03), freq  # binomial sd <= 0.008
    assert np.array_equal(boots, bootstrap_aurocs(per_sample, flipped, n_boot=4000, seed=3))
    assert mislabel_summary(per_sample, flipped, seed=3) == {"auroc": 0.5, "auroc_ci_low": 0.0, "auroc_ci_high": 1.0,
                                                             "f1_at_k": 1.0, "n_flipped": 1}  # tie: index 0 first


def test_mislabel_summary_known_answers():
    rng = np.random.default_rng(7)
    n, t, flipped = 40, 15, np.array([2, 9, 30, 31])
    perfect = rng.random((n, t))
    perfect[flipped] -= 2.0  # the flipped points are the lowest for every sample, so for every resample too
    assert mislabel_summary(perfect, flipped, n_boot=500) == {"auroc": 1.0, "auroc_ci_low": 1.0, "auroc_ci_high": 1.0,
                                                              "f1_at_k": 1.0, "n_flipped": 4}
    same = np.repeat(rng.random((n, 1)), t, axis=1)  # every sample agrees: a resample changes nothing
    row = mislabel_summary(same, flipped, n_boot=500)
    assert row["auroc_ci_low"] == row["auroc"] == row["auroc_ci_high"] == detection(same[:, 0], flipped, n)["auroc"]
    noisy = rng.normal(size=(n, t)) - 0.5 * np.isin(np.arange(n), flipped)[:, None]
    row = mislabel_summary(noisy, flipped, seed=1)
    assert row["auroc_ci_low"] < row["auroc"] < row["auroc_ci_high"] and row == mislabel_summary(noisy, flipped, seed=1)
    assert row["auroc"] == detection(noisy.mean(1), flipped, n)["auroc"]
    glob = mislabel_summary(noisy[:, 0], flipped)  # a global vector: no samples to resample
    assert glob["auroc"] == detection(noisy[:, 0], flipped, n)["auroc"]
    assert np.isnan(glob["auroc_ci_low"]) and np.isnan(glob["auroc_ci_high"])
    none = mislabel_summary(noisy, np.array([], dtype=np.int64))
    assert none["n_flipped"] == 0 and all(np.isnan(none[k]) for k in ("auroc", "auroc_ci_low", "f1_at_k"))


# ---- statistics ----

def test_bootstrap_ci_covers_the_true_mean_at_about_the_nominal_rate():
    data = np.random.default_rng(5).normal(loc=2.0, size=(200, 50))
    intervals = [bootstrap_ci(row, n_boot=1000, seed=r) for r, row in enumerate(data)]
    cover = [low <= 2.0 <= high for _, low, high in intervals]
    assert 0.90 <= np.mean(cover) <= 0.98
    assert bootstrap_ci(np.array([1.0, np.nan, 3.0]), seed=1)[0] == 2.0  # NaNs dropped
    assert bootstrap_ci(np.array([1.0, 2.0]), seed=3) == bootstrap_ci(np.array([1.0, 2.0]), seed=3)
    assert all(np.isnan(bootstrap_ci(np.array([np.nan]))))


def test_wilcoxon_hand_cases():
    zeros = np.zeros(5)
    # n = 5 differences, all positive: W- = 0, exact two-sided p = 2 / 2^5
    assert wilcoxon_p(np.arange(1.0, 6.0), zeros) == pytest.approx(0.0625)
    # differences -1, 2, 3, 4, 5: W- = 1, P(W- <= 1) = 2 / 32, two-sided 0.125; the zero pair is dropped
    assert wilcoxon_p(np.array([-1.0, 2, 3, 4, 5, 0]), np.zeros(6)) == pytest.approx(0.125)
    assert wilcoxon_p(np.arange(5.0), np.arange(5.0)) == 1.0
    assert np.isnan(wilcoxon_p(np.array([1.0]), np.array([0.0])))


def test_seeds_summary_means_per_seed_first():
    frame = pd.DataFrame({"method": ["a"] * 6 + ["b"] * 2, "seed": [0, 0, 0, 1, 2, 2, 0, 1],
                          "lds": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 0.5, np.nan]})
    out = seeds_summary(frame, ["method"], "lds").set_index("method")
    assert out.loc["a", "mean"] == pytest.approx(4.0) and out.loc["a", "n_seeds"] == 3  # seed means 2, 4, 6
    half = st.t.ppf(0.975, 2) * 2.0 / np.sqrt(3)
    assert out.loc["a", "ci_low"] == pytest.approx(4.0 - half) and out.loc["a", "ci_high"] == pytest.approx(4.0 + half)
    assert out.loc["b", "n_seeds"] == 1 and np.isnan(out.loc["b", "ci_low"])


# ---- bad inputs ----

@pytest.mark.parametrize("call, name", [
    (lambda: alpha_subsets(10, 20, 0.0, seed=0), "alpha"),
    (lambda: alpha_subsets(10, 20, 1.0, seed=0), "alpha"),
    (lambda: flip_labels(np.arange(10) % 3, 0.6, 3), "fraction"),
    (lambda: flip_labels(np.arange(10) % 3, -0.1, 3), "fraction"),
    (lambda: lds(np.zeros((5, 3)), np.ones((10, 4), bool), np.zeros((10, 3)), np.zeros(3)), "values"),
    (lambda: lds(np.zeros((4, 3)), np.ones((10, 4), bool), np.zeros((9, 3)), np.zeros(3)), "utilities"),
    (lambda: lds(np.zeros((4, 3)), np.ones((10, 4), bool), np.zeros((10, 3)), np.zeros(2)), "null"),
    (lambda: detection(np.zeros(5), np.array([1]), 6), "scores"),
    (lambda: detection(np.zeros(5), np.array([7]), 5), "flipped"),
    (lambda: point_scores(np.zeros((4, 3, 2)), np.zeros(2, int)), "labels"),
    (lambda: own_label_values(np.zeros((4, 3)), np.zeros(3, int)), "values"),
    (lambda: own_label_values(np.zeros((4, 3, 2)), np.full(3, 2)), "labels"),
    (lambda: bootstrap_aurocs(np.zeros((4, 0)), np.array([1])), "per_sample"),
    (lambda: bootstrap_aurocs(np.full((4, 2), np.nan), np.array([1])), "per_sample"),
    (lambda: bootstrap_aurocs(np.zeros((4, 2)), np.array([4])), "flipped"),
    (lambda: bootstrap_aurocs(np.zeros((4, 2)), np.array([1]), n_boot=0), "n_boot"),
    (lambda: mislabel_summary(np.zeros((4, 2)), np.array([1]), level=1.0), "level"),
    (lambda: wilcoxon_p(np.zeros(3), np.zeros(4)), "a and b"),
    (lambda: bootstrap_ci(np.zeros(3), level=1.5), "level"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---- figures and imports ----

def test_figures_are_written(tmp_path):  # the figures themselves were checked by eye when written
    rng = np.random.default_rng(6)
    flipped = np.arange(10)
    curves = {m: detection_curve(rng.normal(size=60) - shift * (np.arange(60) < 10), flipped)
              for m, shift in (("fds", 2.0), ("loo/global", 0.5), ("random", 0.0))}
    plot_detection_curves(curves, tmp_path / "det", order=("fds", "loo", "random"))
    rows = [(m, r, q * np.log10(r) / 4) for m, q in (("fds", 1.0), ("tmc/per_sample", 0.6)) for r in (100, 1000, 10000)]
    budget = pd.DataFrame([{"method": m, "retrainings": r, "mean": y, "ci_low": y - 0.05, "ci_high": y + 0.05}
                           for m, r, y in rows])
    plot_budget_curve(budget, tmp_path / "budget")
    for stem in ("det", "budget"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    assert (tmp_path / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="frame"):
        plot_budget_curve(budget.drop(columns="ci_low"), tmp_path / "bad")


def test_metrics_import_without_torch():
    src = str(Path(fastdatashapley.__file__).parents[1])
    env = os.environ | {"PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = "import sys, fastdatashapley.evaluation.lds, fastdatashapley.evaluation.mislabel, fastdatashapley.evaluation.stats, fastdatashapley.evaluation.budget, fastdatashapley.evaluation.tables, fastdatashapley.evaluation.figures, fastdatashapley.games.designs; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_seeds_table_averages_each_key_over_the_seeds_that_have_it():
    from fastdatashapley.evaluation.stats import seeds_table

    a = pd.DataFrame({"method": ["fds", "loo"], "eta": [0.1, 0.1], "mean": [2.0, 1.0], "std": [9.0, 9.0]})
    b = pd.DataFrame({"method": ["fds", "loo"], "eta": [0.1, 0.1], "mean": [4.0, 1.0], "std": [9.0, 9.0]})
    c = pd.DataFrame({"method": ["fds"], "eta": [0.1], "mean": [6.0], "std": [9.0]})
    out = seeds_table({0: a, 1: b, 2: c}, "value_loss")
    assert list(out.columns) == ["method", "eta", "mean", "std", "ci_low", "ci_high", "n_seeds"]
    assert list(out["method"]) == ["fds", "loo"] and list(out["n_seeds"]) == [3, 2]
    fds = out.iloc[0]
    assert fds["mean"] == 4.0 and fds["std"] == 2.0
    half = st.t.ppf(0.975, 2) * 2.0 / np.sqrt(3)
    assert fds["ci_low"] == pytest.approx(4.0 - half) and fds["ci_high"] == pytest.approx(4.0 + half)
    assert out.iloc[1]["std"] == 0.0
    many = seeds_table({0: pd.DataFrame({"method": ["fds"], "auroc": [0.8], "f1_at_k": [0.5]}),
                        1: pd.DataFrame({"method": ["fds"], "auroc": [0.9], "f1_at_k": [0.7]})}, "mislabel")
    assert many.iloc[0]["auroc_mean"] == pytest.approx(0.85) and many.iloc[0]["f1_at_k_mean"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="no seed summary"):
        seeds_table({0: a}, "cost")
