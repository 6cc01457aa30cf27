"""Coalition samplers: boolean masks ``[k, n]`` over n players (training points or groups).

Every sampler is deterministic under ``seed`` (``numpy.random.default_rng``).

Shapley kernel: over proper coalitions (0 < |s| < n) the kernel is
P(s) ∝ (n - 1) / (C(n, |s|) |s| (n - |s|)); equivalently the size k is drawn with probability
∝ 1 / (k (n - k)) and then a uniform subset of that size. Paired sampling appends each mask's
complement, which has the same probability.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np


def check_n(n: int, name: str = "n") -> int:
    """``n`` as an int, at least 2 (a game of one player has nothing to estimate)."""
    if int(n) != n or n < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {n}")
    return int(n)


def kernel_size_pmf(n: int) -> np.ndarray:
    """P(|s| = k) for k = 1..n-1 under the Shapley kernel: ``[n - 1]``, ∝ 1 / (k (n - k))."""
    n = check_n(n)
    k = np.arange(1, n, dtype=np.float64)
    w = 1.0 / (k * (n - k))
    return w / w.sum()


def subsets_of_size(n: int, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform subset of each size in ``sizes [k]``: bool ``[k, n]``."""
    ranks = np.argsort(rng.random((len(sizes), n)), axis=1).argsort(axis=1)
    return ranks < np.asarray(sizes)[:, None]


def kernel_masks(n: int, n_samples: int, *, paired: bool = True, seed: int | Sequence[int] = 0) -> np.ndarray:
    """``n_samples`` coalitions from the Shapley kernel: bool ``[n_samples, n]``.

    With ``paired`` the rows come in (s, 1 - s) pairs; an odd count drops the last complement.
    """
    n = check_n(n)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    rng = np.random.default_rng(seed)
    draws = -(-n_samples // 2) if paired else n_samples
    sizes = rng.choice(np.arange(1, n), size=draws, p=kernel_size_pmf(n))
    masks = subsets_of_size(n, sizes, rng)
    if paired:
        masks = np.stack([masks, ~masks], axis=1).reshape(-1, n)
    return masks[:n_samples]


def permutations(n: int, n_permutations: int, *, seed: int | Sequence[int] = 0) -> np.ndarray:
    """Uniform random permutations of range(n): int64 ``[n_permutations, n]``."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_permutations, n)), axis=1)


def prefix_masks(order: np.ndarray) -> np.ndarray:
    """Masks of every prefix of each permutation: ``order [p, n]`` -> bool ``[p, n + 1, n]`` (prefix 0 is empty)."""
    order = np.atleast_2d(order)
    p, n = order.shape
    rank = np.empty_like(order)
    rank[np.arange(p)[:, None], order] = np.arange(n)[None, :]
    return rank[:, None, :] < np.arange(n + 1)[None, :, None]


def enumerate_masks(n: int, chunk_size: int = 4096) -> Iterator[np.ndarray]:
    """All 2^n masks in chunks of ``chunk_size`` rows (row r is the binary expansion of r, bit i = player i)."""
    n = check_n(n)
    if n > 30:
        raise ValueError(f"exact enumeration of 2^{n} coalitions is infeasible; n must be <= 30")
    bits = np.arange(n, dtype=np.int64)
    for start in range(0, 2**n, chunk_size):
        rows = np.arange(start, min(start + chunk_size, 2**n), dtype=np.int64)
        yield (rows[:, None] >> bits[None, :]) & 1 == 1


def all_masks(n: int) -> np.ndarray:
    """All 2^n masks at once, bool ``[2^n, n]`` (for designs; estimators stream :func:`enumerate_masks`)."""
    return np.concatenate(list(enumerate_masks(n, 1 << 16)))


def loo_masks(n: int) -> np.ndarray:
    """Row 0 is the full set; row i + 1 leaves out player i: bool ``[n + 1, n]``."""
    n = check_n(n)
    return np.vstack([np.ones((1, n), bool), ~np.eye(n, dtype=bool)])


def check_groups(groups: Sequence[Sequence[int]], n: int) -> list[np.ndarray]:
    """Validate that ``groups`` partition range(n) into non-empty index arrays; returns int64 arrays."""
    out = [np.asarray(g, dtype=np.int64).ravel() for g in groups]
    if len(out) < 1 or any(len(g) == 0 for g in out):
        raise ValueError("groups must be a non-empty sequence of non-empty index arrays")
    flat = np.concatenate(out)
    if len(flat) != n or not np.array_equal(np.sort(flat), np.arange(n)):
        missing = sorted(set(range(n)) - set(flat.tolist()))[:5]
        dup = sorted({int(i) for i in flat if (flat == i).sum() > 1})[:5]
        outside = sorted({int(i) for i in flat if i < 0 or i >= n})[:5]
        raise ValueError(
            f"groups do not partition range({n}): missing {missing}, repeated {dup}, out of range {outside}"
        )
    return out


def expand_groups(groups: Sequence[np.ndarray], group_masks: np.ndarray, n: int) -> np.ndarray:
    """Group coalitions ``[k, N]`` -> data masks ``[k, n]`` (a chosen group brings all its members)."""
    group_masks = np.asarray(group_masks, dtype=bool)
    owner = np.empty(n, dtype=np.int64)
    for j, g in enumerate(groups):
        owner[g] = j
    return group_masks[:, owner]


def gfds_players(groups: Sequence[np.ndarray], j: int) -> list[np.ndarray]:
    """GFDS players for valuing group ``j``: each member of group j alone, then every other group whole.

    Returns |G_j| + N - 1 index arrays (a partition of range(n)).
    """
    return [np.array([i]) for i in groups[j]] + [g for k, g in enumerate(groups) if k != j]


def gfds_masks(
    groups: Sequence[np.ndarray], n: int, n_samples: int, *, paired: bool = True, seed: int | Sequence[int] = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The GFDS design: ``n_samples`` data masks spread evenly over the N groups.

    For group j, Shapley-kernel coalitions over its |G_j| + N - 1 players are expanded to data masks.
    Returns (data masks bool ``[n_samples, n]``, the group each row values int64 ``[n_samples]``).
    """
    groups = check_groups(groups, n)
    counts = np.full(len(groups), n_samples // len(groups))
    counts[: n_samples % len(groups)] += 1
    masks, owner = [], []
    for j, count in enumerate(counts):
        if count == 0:
            continue
        players = gfds_players(groups, j)
        player_masks = kernel_masks(len(players), int(count), paired=paired, seed=[*np.atleast_1d(seed), j])
        masks.append(expand_groups(players, player_masks, n))
        owner.append(np.full(count, j))
    return np.concatenate(masks), np.concatenate(owner)


def group_kernel_masks(
    groups: Sequence[np.ndarray], n: int, n_samples: int, *, paired: bool = True, seed: int | Sequence[int] = 0
) -> np.ndarray:
    """The GFDS+ design: Shapley-kernel coalitions over the N groups, expanded to data masks ``[n_samples, n]``."""
    groups = check_groups(groups, n)
    return expand_groups(groups, kernel_masks(len(groups), n_samples, paired=paired, seed=seed), n)
