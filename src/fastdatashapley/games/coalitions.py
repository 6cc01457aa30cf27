"""Coalition samplers: boolean masks ``[k, n]`` over n players (training points or groups).

Row r of a mask array is one coalition; ``masks[r, i]`` is True when player i is in it. Every sampler is
deterministic under ``seed`` (anything ``numpy.random.default_rng`` accepts: an int, a sequence of ints,
or a ``Generator``, which is then consumed in place).

Shapley kernel: over proper coalitions (0 < |s| < n) the kernel is
P(s) ∝ (n - 1) / (C(n, |s|) |s| (n - |s|)); equivalently the size k is drawn with probability
∝ 1 / (k (n - k)) and then a uniform subset of that size. Paired (antithetic) sampling appends each mask's
complement, which has the same probability.

Designs in this module (all cheap: O(k n log n) time, O(k n) memory):

* :func:`kernel_masks`: KernelSHAP / FDS coalitions.
* :func:`permutations`, :func:`prefix_masks`: TMC and class-wise permutations.
* :func:`enumerate_masks` (streamed chunks) and :func:`all_masks`: exact enumeration.
* :func:`loo_masks`: leave-one-out.
* :func:`alpha_subsets`: each point kept with probability alpha (LDS, datamodels).
* :func:`gfds_masks` (GFDS: members of one group plus the other groups whole) and
  :func:`group_kernel_masks` (GFDS+: groups as players), both expanded to data masks by
  :func:`expand_groups`.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from ..base.checks import check_count, check_n

Seed = int | Sequence[int] | np.random.Generator
MAX_ENUMERATION = 30


def kernel_size_pmf(n: int) -> np.ndarray:
    """P(|s| = k) for k = 1..n-1 under the Shapley kernel: ``[n - 1]``, ∝ 1 / (k (n - k))."""
    n = check_n(n)
    k = np.arange(1, n, dtype=np.float64)
    w = 1.0 / (k * (n - k))
    return w / w.sum()


def subsets_of_size(n: int, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform subset of each size in ``sizes [k]``: bool ``[k, n]`` (a random order, then its first sizes[r])."""
    sizes = np.asarray(sizes, dtype=np.int64)
    order = np.argsort(rng.random((len(sizes), n)), axis=1)
    masks = np.empty((len(sizes), n), dtype=bool)
    np.put_along_axis(masks, order, np.arange(n)[None, :] < sizes[:, None], axis=1)
    return masks


def kernel_masks(n: int, n_samples: int, *, paired: bool = True, seed: Seed = 0) -> np.ndarray:
    """``n_samples`` coalitions from the Shapley kernel: bool ``[n_samples, n]``, never empty or full.

    With ``paired`` the rows come in (s, 1 - s) pairs (rows 2t and 2t + 1); an odd count drops the last
    complement.
    """
    n = check_n(n)
    n_samples = check_count(n_samples, "n_samples")
    rng = np.random.default_rng(seed)
    draws = -(-n_samples // 2) if paired else n_samples
    sizes = rng.choice(np.arange(1, n), size=draws, p=kernel_size_pmf(n))
    masks = subsets_of_size(n, sizes, rng)
    if paired:
        masks = np.stack([masks, ~masks], axis=1).reshape(-1, n)
    return masks[:n_samples]


def permutations(n: int, n_permutations: int, *, seed: Seed = 0) -> np.ndarray:
    """Uniform random permutations of range(n): int64 ``[n_permutations, n]``.

    Drawing p + q permutations from one ``Generator`` in two calls gives the same rows as one call for
    p + q, so batched and sequential consumers can share a stream.
    """
    n = check_count(n, "n")
    n_permutations = check_count(n_permutations, "n_permutations", 0)
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_permutations, n)), axis=1)


def alpha_subsets(n: int, n_subsets: int, alpha: float = 0.5, *, seed: Seed = 0) -> np.ndarray:
    """Random subsets ``[n_subsets, n]`` (bool), each point kept independently with probability ``alpha``.

    An empty or full row is redrawn: the bad rows are redrawn together from the same generator, in row order,
    until none is left, so the result depends only on ``(n, n_subsets, alpha, seed)``. The kept fraction is
    therefore alpha conditioned on 0 < |s| < n (the held-out LDS subsets and the datamodel design).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be at least 2 (a subset neither empty nor full), got {n}")
    n_subsets = check_count(n_subsets, "n_subsets")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    rng = np.random.default_rng(seed)
    masks = rng.random((n_subsets, n)) < alpha
    bad = np.flatnonzero(~masks.any(axis=1) | masks.all(axis=1))
    while bad.size:
        masks[bad] = rng.random((bad.size, n)) < alpha
        bad = bad[~masks[bad].any(axis=1) | masks[bad].all(axis=1)]
    return masks


def prefix_masks(order: np.ndarray) -> np.ndarray:
    """Masks of every prefix of each permutation: ``order [p, n]`` -> bool ``[p, n + 1, n]`` (prefix 0 is empty)."""
    order = np.atleast_2d(np.asarray(order))
    p, n = order.shape
    if not np.array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(n), order.shape)):
        raise ValueError(f"order must hold permutations of range({n}) in each row")
    rank = np.empty_like(order)
    rank[np.arange(p)[:, None], order] = np.arange(n)[None, :]
    return rank[:, None, :] < np.arange(n + 1)[None, :, None]


def enumerate_masks(n: int, chunk_size: int = 4096) -> Iterator[np.ndarray]:
    """All 2^n masks, streamed in chunks of at most ``chunk_size`` rows: bool ``[<=chunk_size, n]`` each.

    Row r (counting across chunks) is the binary expansion of r, bit i = player i; row 0 is empty and the
    last row full. Only one chunk is in memory at a time.
    """
    n = check_n(n)
    chunk_size = check_count(chunk_size, "chunk_size")
    if n > MAX_ENUMERATION:
        raise ValueError(f"exact enumeration of 2^{n} coalitions is infeasible; n must be <= {MAX_ENUMERATION}")
    bits = np.arange(n, dtype=np.int64)
    for start in range(0, 2**n, chunk_size):
        rows = np.arange(start, min(start + chunk_size, 2**n), dtype=np.int64)
        yield (rows[:, None] >> bits[None, :]) & 1 == 1


def all_masks(n: int) -> np.ndarray:
    """All 2^n masks at once, bool ``[2^n, n]`` in :func:`enumerate_masks` order (for designs; estimators stream)."""
    return np.concatenate(list(enumerate_masks(n, 1 << 16)))


def loo_masks(n: int) -> np.ndarray:
    """Row 0 is the full set; row i + 1 leaves out player i: bool ``[n + 1, n]``."""
    n = check_n(n)
    return np.vstack([np.ones((1, n), bool), ~np.eye(n, dtype=bool)])


def check_groups(groups: Sequence[Sequence[int]], n: int) -> list[np.ndarray]:
    """Validate that ``groups`` partition range(n) into non-empty index arrays; returns int64 arrays."""
    try:
        out = [np.asarray(g).ravel() for g in groups]
    except TypeError as err:
        raise ValueError(f"groups must be a sequence of index arrays: {err}") from None
    if len(out) < 1 or any(len(g) == 0 for g in out):
        raise ValueError("groups must be a non-empty sequence of non-empty index arrays")
    if any(not np.issubdtype(g.dtype, np.integer) for g in out):
        raise ValueError("groups must hold integer indices")
    out = [g.astype(np.int64) for g in out]
    flat = np.concatenate(out)
    if len(flat) != n or not np.array_equal(np.sort(flat), np.arange(n)):
        values, counts = np.unique(flat, return_counts=True)
        missing = np.setdiff1d(np.arange(n), flat)[:5].tolist()
        repeated = values[counts > 1][:5].tolist()
        outside = values[(values < 0) | (values >= n)][:5].tolist()
        raise ValueError(
            f"groups do not partition range({n}): missing {missing}, repeated {repeated}, out of range {outside}"
        )
    return out


def expand_groups(groups: Sequence[np.ndarray], group_masks: np.ndarray, n: int) -> np.ndarray:
    """Player coalitions ``[k, N]`` -> data masks ``[k, n]``: a chosen player brings all of its points.

    ``groups[j]`` lists the data points of player j; the groups must partition range(n).
    """
    group_masks = np.asarray(group_masks, dtype=bool)
    if group_masks.ndim != 2 or group_masks.shape[1] != len(groups):
        raise ValueError(f"group_masks must have shape [k, {len(groups)}], got {list(group_masks.shape)}")
    owner = np.empty(n, dtype=np.int64)
    for j, g in enumerate(groups):
        owner[g] = j
    return group_masks[:, owner]


def gfds_players(groups: Sequence[np.ndarray], j: int) -> list[np.ndarray]:
    """GFDS players for valuing group ``j``: each member of group j alone, then every other group whole.

    Returns |G_j| + N - 1 index arrays (a partition of range(n)); player r < |G_j| is point ``groups[j][r]``.
    """
    if not 0 <= j < len(groups):
        raise ValueError(f"group index j={j} is out of range for {len(groups)} groups")
    return [np.array([i]) for i in groups[j]] + [g for k, g in enumerate(groups) if k != j]


def gfds_masks(
    groups: Sequence[np.ndarray], n: int, n_samples: int, *, paired: bool = True, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The GFDS design: ``n_samples`` data masks spread evenly over the N groups.

    For group j, Shapley-kernel coalitions over its |G_j| + N - 1 players (:func:`gfds_players`) are
    expanded to data masks; group j's rows use seed ``[*seed, j]``. Returns (data masks bool
    ``[n_samples, n]``, the group each row values, int64 ``[n_samples]``), rows grouped by j.
    """
    groups = check_groups(groups, n)
    n_samples = check_count(n_samples, "n_samples")
    if isinstance(seed, np.random.Generator):
        raise ValueError("gfds_masks needs an int or int-sequence seed (it derives one seed per group)")
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
    groups: Sequence[np.ndarray], n: int, n_samples: int, *, paired: bool = True, seed: Seed = 0
) -> np.ndarray:
    """The GFDS+ design: Shapley-kernel coalitions over the N groups, expanded to data masks ``[n_samples, n]``."""
    groups = check_groups(groups, n)
    return expand_groups(groups, kernel_masks(len(groups), n_samples, paired=paired, seed=seed), n)
