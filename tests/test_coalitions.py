"""Coalition samplers."""

import numpy as np
import pytest

from fastdatashapley import coalitions as C


def test_kernel_size_law_matches_formula():
    n = 12
    masks = C.kernel_masks(n, 40000, paired=False, seed=1)
    sizes = masks.sum(1)
    assert sizes.min() >= 1 and sizes.max() <= n - 1
    freq = np.bincount(sizes, minlength=n)[1:] / len(sizes)
    k = np.arange(1, n)
    expected = (1 / (k * (n - k))) / (1 / (k * (n - k))).sum()
    assert np.allclose(C.kernel_size_pmf(n), expected)
    assert np.abs(freq - expected).max() < 0.01


def test_kernel_subsets_are_uniform_within_a_size():
    masks = C.kernel_masks(6, 30000, paired=False, seed=2)
    ones = masks[masks.sum(1) == 1]
    counts = ones.sum(0) / len(ones)
    assert np.abs(counts - 1 / 6).max() < 0.02


def test_paired_rows_are_complements_and_seeded():
    a = C.kernel_masks(9, 11, seed=3)
    assert a.shape == (11, 9)
    assert np.array_equal(a[0::2][:5], ~a[1::2])
    assert np.array_equal(a, C.kernel_masks(9, 11, seed=3))
    assert not np.array_equal(a, C.kernel_masks(9, 11, seed=4))


def test_permutations_and_prefixes():
    perms = C.permutations(5, 4, seed=0)
    assert all(sorted(p) == list(range(5)) for p in perms)
    pre = C.prefix_masks(perms)
    assert pre.shape == (4, 6, 5)
    assert not pre[:, 0].any() and pre[:, -1].all()
    for p in range(4):
        for j in range(5):
            assert np.flatnonzero(pre[p, j + 1] & ~pre[p, j]).tolist() == [perms[p, j]]


def test_enumeration_in_chunks_covers_every_mask_once():
    chunks = list(C.enumerate_masks(5, chunk_size=7))
    assert max(len(c) for c in chunks) == 7
    rows = np.concatenate(chunks)
    assert len({r.tobytes() for r in rows}) == 32
    assert np.array_equal(rows, C.all_masks(5))


def test_loo_masks():
    m = C.loo_masks(4)
    assert m[0].all() and (m[1:].sum(1) == 3).all() and not m[1:][np.arange(4), np.arange(4)].any()


def test_groups_validation_names_the_problem():
    with pytest.raises(ValueError, match="missing \\[3\\]"):
        C.check_groups([[0, 1], [2]], 4)
    with pytest.raises(ValueError, match="repeated \\[1\\]"):
        C.check_groups([[0, 1], [1, 2, 3]], 4)
    with pytest.raises(ValueError, match="non-empty"):
        C.check_groups([[0, 1, 2, 3], []], 4)


def test_group_designs_expand_whole_groups():
    groups = C.check_groups([[0, 3], [1, 4, 5], [2]], 6)
    masks, owner = C.gfds_masks(groups, 6, 30, seed=0)
    assert masks.shape == (30, 6) and np.bincount(owner).tolist() == [10, 10, 10]
    for row, j in zip(masks, owner):
        for k, g in enumerate(groups):
            if k != j:
                assert row[g].all() or not row[g].any()
    plus = C.group_kernel_masks(groups, 6, 20, seed=0)
    for row in plus:
        for g in groups:
            assert row[g].all() or not row[g].any()
    assert len(C.gfds_players(groups, 1)) == 3 + 2


def test_bad_n():
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        C.kernel_masks(1, 10)
