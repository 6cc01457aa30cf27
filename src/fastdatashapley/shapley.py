"""Model-agnostic Shapley estimators over a batched utility.

A *utility* maps ``masks: bool [k, n]`` to ``float [k]`` or ``[k, *out]`` (for example ``[k, P, m]``: the
softmax of a retrained sub-model for P probe points and m labels). Every estimator broadcasts over
``*out``, evaluates the utility in batches of at most ``batch_size`` masks, is reproducible under
``seed`` and returns float64 values ``[n, *out]`` that satisfy efficiency (they sum to
``utility(all) - utility(none)``) up to the estimator's own error.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from math import lgamma
from typing import Callable, Sequence

import numpy as np

from . import coalitions as C

Utility = Callable[[np.ndarray], np.ndarray]
log = logging.getLogger(__name__)


def evaluate(utility: Utility, masks: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """``utility`` on ``masks [k, n]`` in batches; checks the shape and finiteness; float64 ``[k, *out]``."""
    masks = np.asarray(masks, dtype=bool)
    parts = []
    for i in range(0, len(masks), max(1, int(batch_size))):
        chunk = masks[i : i + batch_size]
        out = np.asarray(utility(chunk), dtype=np.float64)
        if out.ndim == 0 or out.shape[0] != len(chunk):
            raise ValueError(f"utility returned shape {list(out.shape)} for {len(chunk)} masks; expected [{len(chunk)}, *out]")
        if parts and out.shape[1:] != parts[0].shape[1:]:
            raise ValueError(f"utility changed its output shape from {list(parts[0].shape[1:])} to {list(out.shape[1:])}")
        if not np.isfinite(out).all():
            raise ValueError(f"utility returned NaN or Inf for {int((~np.isfinite(out)).reshape(len(chunk), -1).any(1).sum())} masks")
        parts.append(out)
    if not parts:
        raise ValueError("no masks to evaluate")
    return np.concatenate(parts)


def _ends(utility: Utility, n: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """v(empty), v(full)."""
    both = evaluate(utility, np.array([np.zeros(n, bool), np.ones(n, bool)]), batch_size)
    return both[0], both[1]


def _log_comb(a: int, b: np.ndarray) -> np.ndarray:
    return lgamma(a + 1) - np.array([lgamma(x + 1) + lgamma(a - x + 1) for x in np.atleast_1d(b)])


def exact(utility: Utility, n: int, *, batch_size: int = 4096) -> np.ndarray:
    """Exact Shapley values by enumerating all 2^n coalitions in chunks: ``[n, *out]``.

    Each coalition S contributes v(S) / (n C(n-1, |S|-1)) to its members and -v(S) / (n C(n-1, |S|)) to
    the others, which sums to phi_i = sum_{S not containing i} |S|!(n-|S|-1)!/n! (v(S + i) - v(S)).
    """
    n = C.check_n(n)
    k = np.arange(n + 1)
    w_in = np.zeros(n + 1)
    w_out = np.zeros(n + 1)
    w_in[1:] = np.exp(-np.log(n) - _log_comb(n - 1, k[1:] - 1))
    w_out[:n] = np.exp(-np.log(n) - _log_comb(n - 1, k[:n]))
    phi = None
    for masks in C.enumerate_masks(n, batch_size):
        v = evaluate(utility, masks, batch_size)
        flat = v.reshape(len(v), -1)
        size = masks.sum(1)
        contrib = masks.T.astype(np.float64) @ (w_in[size][:, None] * flat) - (~masks).T.astype(np.float64) @ (w_out[size][:, None] * flat)
        phi = contrib if phi is None else phi + contrib
    return phi.reshape(n, *v.shape[1:])


@dataclass
class KernelInfo:
    """Uncertainty of a KernelSHAP estimate (Covert & Lee 2021).

    std: standard errors ``[n, *out]``; convergence: max std / (max value - min value) per output ``[*out]``
    (the paper's stopping signal: below about 0.01 the estimate has converged); n_samples: masks used.
    """

    std: np.ndarray
    convergence: np.ndarray
    n_samples: int


def kernel_from_samples(
    masks: np.ndarray, values: np.ndarray, null: np.ndarray, grand: np.ndarray, *, return_info: bool = False
):
    """Constrained weighted least squares (KernelSHAP) on coalitions drawn from the Shapley kernel.

    Minimises mean_t (v(s_t) - v(0) - s_t^T phi)^2 subject to 1^T phi = v(1) - v(0). The masks are
    samples from the kernel, so every row has equal weight. masks ``[S, n]``, values ``[S, *out]``,
    null/grand ``[*out]``; returns ``[n, *out]`` (and :class:`KernelInfo` with ``return_info``).
    """
    masks = np.asarray(masks, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    s, n = masks.shape
    if values.shape[0] != s:
        raise ValueError(f"values has {values.shape[0]} rows but masks has {s}")
    if s < n:
        raise ValueError(f"KernelSHAP needs at least n = {n} coalitions, got {s}")
    out_shape = values.shape[1:]
    z = masks[:, :, None] * (values.reshape(s, -1) - np.asarray(null, np.float64).reshape(1, -1))[:, None, :]  # [S, n, O]
    a = masks.T @ masks / s
    b = z.mean(0)  # [n, O]
    total = (np.asarray(grand, np.float64) - np.asarray(null, np.float64)).reshape(-1)  # [O]
    a_inv = np.linalg.pinv(a)
    ones = np.ones(n)
    a_inv_1 = a_inv @ ones
    proj = a_inv - np.outer(a_inv_1, a_inv_1) / (ones @ a_inv_1)  # phi = proj b + a_inv_1 * total / (1^T a_inv 1)
    phi = proj @ b + np.outer(a_inv_1, total) / (ones @ a_inv_1)
    phi = phi.reshape(n, *out_shape)
    if not return_info:
        return phi
    per_sample = np.einsum("ij,sjo->sio", proj, z)  # each sample's contribution to proj @ b
    std = (per_sample.std(0, ddof=1) / np.sqrt(s)).reshape(n, *out_shape)
    spread = phi.max(0) - phi.min(0)
    convergence = std.max(0) / np.where(spread > 0, spread, np.inf)
    return phi, KernelInfo(std, convergence, s)


def kernel(
    utility: Utility,
    n: int,
    n_samples: int,
    *,
    paired: bool = True,
    seed: int = 0,
    batch_size: int = 1024,
    return_info: bool = False,
):
    """KernelSHAP with ``n_samples`` Shapley-kernel coalitions (paired by default): ``[n, *out]``.

    With ``return_info`` also returns :class:`KernelInfo` (standard errors and convergence ratio).
    """
    n = C.check_n(n)
    masks = C.kernel_masks(n, n_samples, paired=paired, seed=seed)
    null, grand = _ends(utility, n, batch_size)
    values = evaluate(utility, masks, batch_size)
    return kernel_from_samples(masks, values, null, grand, return_info=return_info)


def loo(utility: Utility, n: int, *, batch_size: int = 1024) -> np.ndarray:
    """Leave-one-out: v(1) - v(1 - e_i), ``[n, *out]`` (n + 1 utility evaluations)."""
    n = C.check_n(n)
    v = evaluate(utility, C.loo_masks(n), batch_size)
    return v[0][None] - v[1:]


def _within(values: np.ndarray, grand: np.ndarray, tolerance: float) -> np.ndarray:
    """Per row of ``values [k, *out]``: every output within ``tolerance * max|grand|`` of ``grand``."""
    scale = tolerance * np.abs(grand).max()
    return (np.abs(values - grand[None]).reshape(len(values), -1) <= scale).all(1)


def tmc(
    utility: Utility,
    n: int,
    n_permutations: int,
    *,
    tolerance: float = 0.01,
    patience: int = 5,
    convergence: float = 0.05,
    batch_permutations: int = 64,
    seed: int = 0,
    return_count: bool = False,
    progress: bool = False,
):
    """Truncated Monte Carlo DataShapley (Ghorbani & Zou 2019): ``[n, *out]``.

    Permutations are walked ``batch_permutations`` at a time: step j evaluates the j-th prefix of every
    still-active permutation of the batch in one utility call. A permutation is truncated once its prefix
    utility has stayed within ``tolerance`` (relative to max |v(D)|, over all outputs) of v(D) for more
    than ``patience`` consecutive steps; its remaining marginals are 0. Sampling stops early once at
    least 100 permutations are done and the mean relative change of the values over the last 100 is below
    ``convergence`` (``n_permutations`` is the maximum). ``batch_permutations=1`` is the sequential
    algorithm; the result does not depend on it. With ``return_count`` also returns
    (permutations used, utility evaluations). ``progress`` shows a bar over permutation batches.
    """
    from tqdm.auto import tqdm

    n = C.check_n(n)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    orders = C.permutations(n, n_permutations, seed=seed)
    null, grand = _ends(utility, n, max(2, batch_permutations))
    total = np.zeros((n, *grand.shape))
    history: list[np.ndarray] = []
    done = evaluations = 0
    for start in tqdm(range(0, n_permutations, batch_permutations), desc="tmc permutations", disable=not progress):
        block = orders[start : start + batch_permutations]
        b = len(block)
        prev = np.repeat(null[None], b, axis=0)
        streak = np.zeros(b, dtype=np.int64)
        active = np.ones(b, dtype=bool)
        prefix = np.zeros((b, n), dtype=bool)
        for j in range(n):
            rows = np.flatnonzero(active)
            if len(rows) == 0:
                break
            prefix[rows, block[rows, j]] = True
            v = evaluate(utility, prefix[rows], len(rows)) if j < n - 1 else np.repeat(grand[None], len(rows), 0)
            evaluations += len(rows) if j < n - 1 else 0
            np.add.at(total, block[rows, j], v - prev[rows])
            prev[rows] = v
            streak[rows] = np.where(_within(v, grand, tolerance), streak[rows] + 1, 0)
            active[rows[streak[rows] > patience]] = False
        done += b
        history.append(total / done)
        if done >= 100 + batch_permutations and _converged(history, done, batch_permutations, convergence):
            break
    phi = total / done
    return (phi, (done, evaluations)) if return_count else phi


def _converged(history: list[np.ndarray], done: int, step: int, threshold: float) -> bool:
    back = max(1, -(-100 // step))
    if len(history) <= back:
        return False
    now, then = history[-1], history[-1 - back]
    return float(np.mean(np.abs(now - then) / (np.abs(now) + 1e-12))) < threshold


def group_testing(
    utility: Utility,
    n: int,
    n_samples: int,
    *,
    epsilon: float | None = None,
    seed: int = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """Group-testing Shapley (Jia et al. 2019): ``[n, *out]``.

    Tests beta_t have size k with q(k) = (1/k + 1/(n-k)) / Z, Z = 2 sum_{k<n} 1/k, then a uniform subset.
    Delta_ij = (Z / T) sum_t U_t (beta_ti - beta_tj) estimates phi_i - phi_j. The values solve, per output,
    the linear program  min e  s.t.  sum_i s_i = U(D) - U(0),  |s_i - s_j - Delta_ij| <= e  with HiGHS.

    ``epsilon`` is the paper's tolerance on the pairwise gaps |s_i - s_j - Delta_ij|. The returned solution
    attains the smallest achievable gap e*, so it is feasible for the paper's program at every
    epsilon >= e*. Because Delta_ij = B_i - B_j with B_i = (Z/T) sum_t U_t beta_ti, e* is 0 up to rounding
    and the solution is B + (U(D) - U(0) - sum B) / n; if the given ``epsilon`` is ever below the e* that
    HiGHS reports, a RuntimeWarning says that the paper's program is infeasible there and the e* solution
    is returned. A negative ``epsilon`` is an error.
    """
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, hstack, vstack

    n = C.check_n(n)
    if n_samples < 2:
        raise ValueError(f"group testing needs n_samples >= 2, got {n_samples}")
    if epsilon is not None and epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    rng = np.random.default_rng(seed)
    k = np.arange(1, n)
    z = 2.0 * np.sum(1.0 / k)
    q = (1.0 / k + 1.0 / (n - k)) / z
    sizes = rng.choice(k, size=n_samples, p=q / q.sum())
    masks = C.subsets_of_size(n, sizes, rng)
    null, grand = _ends(utility, n, batch_size)
    u = evaluate(utility, masks, batch_size).reshape(n_samples, -1)  # [T, O]
    b = masks.T.astype(np.float64) @ u * (z / n_samples)  # [n, O]; Delta_ij = b_i - b_j
    i, j = np.triu_indices(n, 1)
    pairs = len(i)
    rows = np.repeat(np.arange(pairs), 2)
    diff = coo_matrix((np.tile([1.0, -1.0], pairs), (rows, np.stack([i, j], 1).ravel())), shape=(pairs, n))
    e_col = coo_matrix(-np.ones((pairs, 1)))
    a_ub = vstack([hstack([diff, e_col]), hstack([-diff, e_col])]).tocsr()
    a_eq = np.append(np.ones(n), 0.0)[None]
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    total = (grand - null).reshape(-1)
    out = np.empty((n, u.shape[1]))
    worst = 0.0
    for o in range(u.shape[1]):
        delta = b[i, o] - b[j, o]
        res = linprog(cost, A_ub=a_ub, b_ub=np.concatenate([delta, -delta]), A_eq=a_eq, b_eq=[total[o]],
                      bounds=[(None, None)] * n + [(0, None)], method="highs")
        if res.status != 0:
            raise RuntimeError(f"group testing LP failed for output {o}: {res.message}")
        out[:, o] = res.x[:n]
        worst = max(worst, float(res.x[n]))
    if epsilon is not None and worst > epsilon:
        warnings.warn(f"group testing: the program is infeasible at epsilon={epsilon}; returning the solution at "
                      f"the smallest feasible epsilon {worst:.4g}", RuntimeWarning, stacklevel=2)
    return out.reshape(n, *grand.shape)


def group_level(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    n_samples: int | None = None,
    *,
    seed: int = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS+: the groups are the players; each group's value is split evenly among its members.

    Exact over the N groups when ``n_samples`` is None, else KernelSHAP with ``n_samples`` group coalitions.
    Returns ``[n, *out]``.
    """
    n = sum(len(g) for g in groups)
    groups = C.check_groups(groups, n)
    if len(groups) < 2:
        raise ValueError("group_level needs at least 2 groups")

    def group_utility(group_masks: np.ndarray) -> np.ndarray:
        return utility(C.expand_groups(groups, group_masks, n))

    if n_samples is None:
        phi_groups = exact(group_utility, len(groups), batch_size=batch_size)
    else:
        phi_groups = kernel(group_utility, len(groups), n_samples, seed=seed, batch_size=batch_size)
    phi = np.empty((n, *phi_groups.shape[1:]))
    for j, g in enumerate(groups):
        phi[g] = phi_groups[j] / len(g)
    return phi


def gfds_group(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    j: int,
    n_samples: int | None = None,
    *,
    seed: int = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS: Shapley values of the members of group ``j`` in the game whose players are those members plus
    every other group as one player (|G_j| + N - 1 players). Exact when ``n_samples`` is None, else
    KernelSHAP. Returns ``[|G_j|, *out]`` in the order of ``groups[j]``.
    """
    n = sum(len(g) for g in groups)
    groups = C.check_groups(groups, n)
    players = C.gfds_players(groups, j)

    def player_utility(player_masks: np.ndarray) -> np.ndarray:
        return utility(C.expand_groups(players, player_masks, n))

    m = len(players)
    if n_samples is None:
        phi = exact(player_utility, m, batch_size=batch_size)
    else:
        phi = kernel(player_utility, m, n_samples, seed=seed, batch_size=batch_size)
    return phi[: len(groups[j])]


def class_wise(
    utility: Callable[[np.ndarray, int], np.ndarray],
    labels: np.ndarray,
    n_contexts: int,
    n_permutations: int,
    *,
    seed: int = 0,
    batch_size: int = 4096,
) -> np.ndarray:
    """CS-Shapley's class-wise estimator (Schoch et al. 2022): ``[n, *out]``.

    For each class c the players are the training points of class c. ``n_contexts`` out-of-class context
    sets S_out are drawn (each out-of-class point joins with probability 1/2); for each, ``n_permutations``
    permutations of the in-class players give marginal contributions of
    ``utility(mask of S_in + S_out, c)``. A point's value is the mean over contexts and permutations.
    ``utility(masks [k, n], c) -> [k, *out]`` receives the data mask and the class being valued.
    """
    labels = np.asarray(labels)
    n = C.check_n(len(labels))
    if n_contexts < 1 or n_permutations < 1:
        raise ValueError(f"n_contexts and n_permutations must be >= 1, got {n_contexts}, {n_permutations}")
    rng = np.random.default_rng(seed)
    phi = None
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        others = np.flatnonzero(labels != c)
        contexts = rng.random((n_contexts, len(others))) < 0.5
        orders = np.stack([rng.permutation(len(members)) for _ in range(n_contexts * n_permutations)])
        prefixes = C.prefix_masks(orders)
        k = len(orders)
        masks = np.zeros((k, len(members) + 1, n), dtype=bool)
        masks[:, :, members] = prefixes
        masks[:, :, others] = np.repeat(contexts, n_permutations, axis=0)[:, None, :]
        v = evaluate(lambda m: utility(m, int(c)), masks.reshape(-1, n), batch_size)
        v = v.reshape(k, len(members) + 1, *v.shape[1:])
        if phi is None:
            phi = np.zeros((n, *v.shape[2:]))
        marg = np.diff(v, axis=1)  # [k, |c|, *out], marginal of the j-th player in each order
        for r in range(k):
            phi[members[orders[r]]] += marg[r]
        phi[members] /= k
    return phi
