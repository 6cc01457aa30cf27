"""Coalition samplers: laws against their formulas, structure of designs, determinism, bad input."""

from itertools import permutations as all_orders
from math import comb

import numpy as np
import pytest
from scipy.stats import chisquare

from fastdatashapley.games import coalitions as C


def size_law(n):
    k = np.arange(1, n)
    w = 1 / (k * (n - k))
    return w / w.sum()


def test_kernel_size_pmf_is_the_formula():
    for n in (2, 3, 10, 100):
        assert np.allclose(C.kernel_size_pmf(n), size_law(n))
    # P(s) ∝ (n-1) / (C(n,|s|) |s| (n-|s|)) summed over the C(n,k) subsets of size k gives ∝ 1/(k(n-k))
    n = 7
    per_subset = np.array([(n - 1) / (comb(n, k) * k * (n - k)) for k in range(1, n)])
    by_size = per_subset * np.array([comb(n, k) for k in range(1, n)])
    assert np.allclose(by_size / by_size.sum(), C.kernel_size_pmf(n))


@pytest.mark.parametrize("paired", [False, True])
def test_kernel_size_law_chi_square(paired):
    n, draws = 12, 40000
    masks = C.kernel_masks(n, draws, paired=paired, seed=1)
    sizes = masks.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= n - 1
    observed = np.bincount(sizes, minlength=n)[1:]
    if paired:  # complements have the same law but are not independent: test the first of each pair
        observed = np.bincount(sizes[0::2], minlength=n)[1:]
    assert chisquare(observed, observed.sum() * size_law(n)).pvalue > 1e-3
    assert np.abs(observed / observed.sum() - size_law(n)).max() < 0.01


def test_kernel_subsets_are_uniform_within_a_size():
    n = 6
    masks = C.kernel_masks(n, 30000, paired=False, seed=2)
    for k in (1, 2, 3):
        rows = masks[masks.sum(1) == k]
        codes = rows @ (1 << np.arange(n))  # which subset of size k
        counts = np.bincount(codes, minlength=1 << n)[[c for c in range(1 << n) if bin(c).count("1") == k]]
        assert len(counts) == comb(n, k)
        assert chisquare(counts).pvalue > 1e-3


def test_paired_rows_are_complements_and_seeded():
    a = C.kernel_masks(9, 11, seed=3)
    assert a.shape == (11, 9) and a.dtype == bool
    assert np.array_equal(a[0:10:2], ~a[1:10:2])
    assert np.array_equal(a, C.kernel_masks(9, 11, seed=3))
    assert not np.array_equal(a, C.kernel_masks(9, 11, seed=4))
    assert np.array_equal(C.kernel_masks(9, 11, seed=[3, 1]), C.kernel_masks(9, 11, seed=[3, 1]))


def test_permutations_are_uniform_and_stream_from_a_generator():
    perms = C.permutations(3, 6000, seed=0)
    assert perms.dtype == np.int64 and (np.sort(perms, 1) == np.arange(3)).all()
    index = {p: i for i, p in enumerate(all_orders(range(3)))}
    counts = np.bincount([index[tuple(p)] for p in perms], minlength=6)
    assert chisquare(counts).pvalue > 1e-3
    rng = np.random.default_rng(5)
    split = np.concatenate([C.permutations(7, 3, seed=rng), C.permutations(7, 4, seed=rng)])
    assert np.array_equal(split, C.permutations(7, 7, seed=5))


def test_prefix_masks():
    perms = C.permutations(5, 4, seed=0)
    pre = C.prefix_masks(perms)
    assert pre.shape == (4, 6, 5)
    assert not pre[:, 0].any() and pre[:, -1].all()
    assert (pre.sum(2) == np.arange(6)).all()
    for p in range(4):
        for j in range(5):
            assert np.flatnonzero(pre[p, j + 1] & ~pre[p, j]).tolist() == [perms[p, j]]
    with pytest.raises(ValueError, match="order must hold permutations"):
        C.prefix_masks(np.array([[0, 0, 1]]))


def test_enumeration_streams_chunks_covering_every_mask_once():
    gen = C.enumerate_masks(5, chunk_size=7)
    assert not isinstance(gen, (list, np.ndarray))  # a generator: chunks are made on demand
    chunks = list(gen)
    assert [len(c) for c in chunks] == [7, 7, 7, 7, 4]
    rows = np.concatenate(chunks)
    assert len({r.tobytes() for r in rows}) == 32
    assert np.array_equal(rows @ (1 << np.arange(5)), np.arange(32))  # row r is the binary expansion of r
    assert np.array_equal(rows, C.all_masks(5))
    with pytest.raises(ValueError, match="n must be <= 30"):
        next(C.enumerate_masks(31))
    with pytest.raises(ValueError, match="chunk_size"):
        next(C.enumerate_masks(4, 0))


def test_loo_masks():
    m = C.loo_masks(4)
    assert m.shape == (5, 4) and m[0].all()
    for i in range(4):
        assert np.flatnonzero(~m[i + 1]).tolist() == [i]


def test_groups_validation_names_the_problem():
    assert [g.tolist() for g in C.check_groups([[0, 3], np.array([2, 1])], 4)] == [[0, 3], [2, 1]]
    with pytest.raises(ValueError, match="missing \\[3\\]"):
        C.check_groups([[0, 1], [2]], 4)
    with pytest.raises(ValueError, match="repeated \\[1\\]"):
        C.check_groups([[0, 1], [1, 2, 3]], 4)
    with pytest.raises(ValueError, match="out of range \\[4\\]"):
        C.check_groups([[0, 1], [2, 4]], 4)
    with pytest.raises(ValueError, match="non-empty"):
        C.check_groups([[0, 1, 2, 3], []], 4)
    with pytest.raises(ValueError, match="integer"):
        C.check_groups([[0.0, 1.0], [2.0, 3.0]], 4)


def test_expand_groups():
    groups = C.check_groups([[0, 3], [1, 4, 5], [2]], 6)
    data = C.expand_groups(groups, np.array([[True, False, True], [False, True, False]]), 6)
    assert data.tolist() == [[True, False, True, True, False, False], [False, True, False, False, True, True]]
    with pytest.raises(ValueError, match="group_masks must have shape"):
        C.expand_groups(groups, np.ones((2, 2), bool), 6)


def test_gfds_design_expands_player_coalitions():
    groups = C.check_groups([[0, 3], [1, 4, 5], [2]], 6)
    players = C.gfds_players(groups, 1)
    assert [p.tolist() for p in players] == [[1], [4], [5], [0, 3], [2]]
    masks, owner = C.gfds_masks(groups, 6, 31, seed=0)
    assert masks.shape == (31, 6) and np.bincount(owner).tolist() == [11, 10, 10]
    for row, j in zip(masks, owner):
        for k, g in enumerate(groups):
            if k != j:  # other groups enter whole
                assert row[g].all() or not row[g].any()
        player_row = np.array([row[p].all() for p in C.gfds_players(groups, j)])
        assert 0 < player_row.sum() < len(player_row)  # a proper coalition of the players
    again, _ = C.gfds_masks(groups, 6, 31, seed=0)
    assert np.array_equal(masks, again)
    with pytest.raises(ValueError, match="group index"):
        C.gfds_players(groups, 3)


def test_gfds_plus_design_follows_the_kernel_over_groups():
    groups = C.check_groups([list(range(3 * j, 3 * j + 3)) for j in range(8)], 24)
    masks = C.group_kernel_masks(groups, 24, 20000, paired=False, seed=0)
    per_group = np.stack([masks[:, g].all(1) for g in groups], 1)
    assert np.array_equal(per_group, np.stack([masks[:, g].any(1) for g in groups], 1))  # whole groups only
    observed = np.bincount(per_group.sum(1), minlength=8)[1:]
    assert chisquare(observed, observed.sum() * size_law(8)).pvalue > 1e-3


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        C.kernel_masks(1, 10)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        C.loo_masks(2.5)
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        C.kernel_masks(5, 0)
    with pytest.raises(ValueError, match="n_permutations"):
        C.permutations(5, -1)
