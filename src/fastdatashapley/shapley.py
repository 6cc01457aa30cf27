"""Model-agnostic Shapley estimators over a batched utility.

A *utility* maps ``masks: bool [k, n]`` to ``float [k]`` or ``[k, *out]`` (for example ``[k, P, m]``: the
softmax of a retrained sub-model for P probe points and m labels). Every estimator broadcasts over
``*out``, evaluates the utility in calls of at most ``batch_size`` masks, is reproducible under ``seed``
and returns float64 values ``[n, *out]`` that satisfy efficiency (they sum to
``utility(all) - utility(none)``) up to the estimator's own error. A utility that returns the wrong
shape, NaN or Inf is an error (:func:`evaluate`).

Estimators: :func:`exact`, :func:`kernel` (+ :func:`kernel_from_samples`), :func:`tmc`
(stopping rules in :class:`TMCStop`; + :func:`tmc_sequential`, the plain reference; :func:`walk_permutations`
is the permutation walk it shares with FreeShap), :func:`loo`, :func:`group_testing`
(+ :func:`group_testing_lp`), :func:`group_level` (GFDS+), :func:`gfds_group` / :func:`gfds` (GFDS) and
:func:`class_wise` (CS-Shapley).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Callable, Literal, Sequence

import numpy as np

from . import coalitions as C

Utility = Callable[[np.ndarray], np.ndarray]
Score = Callable[[np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------------------------- helpers


def evaluate(
    utility: Utility, masks: np.ndarray, batch_size: int = 1024, expect: tuple[int, ...] | None = None
) -> np.ndarray:
    """``utility`` on ``masks [k, n]`` in calls of at most ``batch_size`` rows: float64 ``[k, *out]``.

    Raises ValueError naming the utility when it returns the wrong number of rows, changes its output
    shape between calls (or from ``expect``, the known ``*out``), or returns NaN/Inf.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or len(masks) == 0:
        raise ValueError(f"masks must be a non-empty [k, n] array, got shape {list(masks.shape)}")
    batch_size = C._check_count(batch_size, "batch_size")
    parts: list[np.ndarray] = []
    for i in range(0, len(masks), batch_size):
        chunk = masks[i : i + batch_size]
        out = np.asarray(utility(chunk), dtype=np.float64)
        if out.ndim == 0 or out.shape[0] != len(chunk):
            raise ValueError(
                f"utility returned shape {list(out.shape)} for {len(chunk)} masks; expected [{len(chunk)}, *out]"
            )
        known = parts[0].shape[1:] if parts else expect
        if known is not None and out.shape[1:] != tuple(known):
            raise ValueError(f"utility changed its output shape from {list(known)} to {list(out.shape[1:])}")
        bad = ~np.isfinite(out.reshape(len(chunk), -1)).all(1)
        if bad.any():
            raise ValueError(f"utility returned NaN or Inf for {int(bad.sum())} of {len(chunk)} masks")
        parts.append(out)
    return np.concatenate(parts)


def _ends(utility: Utility, n: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """v(empty), v(full), each ``[*out]``."""
    both = evaluate(utility, np.array([np.zeros(n, bool), np.ones(n, bool)]), batch_size)
    return both[0], both[1]


# ---------------------------------------------------------------------------------------------- exact


def exact(utility: Utility, n: int, *, batch_size: int = 4096) -> np.ndarray:
    """Exact Shapley values by enumerating all 2^n coalitions in chunks of ``batch_size``: ``[n, *out]``.

    phi_i = sum_S v(S) (w_in(|S|) [i in S] - w_out(|S|) [i not in S]) with w_in(k) = 1 / (n C(n-1, k-1))
    and w_out(k) = 1 / (n C(n-1, k)), which regroups sum_{S not containing i} |S|!(n-|S|-1)!/n!
    (v(S + i) - v(S)). Only one chunk of masks is held at a time; 2^n utility evaluations (n <= 30).
    """
    n = C.check_n(n)
    w_in = np.array([0.0] + [1.0 / (n * comb(n - 1, k - 1)) for k in range(1, n + 1)])
    w_out = np.array([1.0 / (n * comb(n - 1, k)) for k in range(n)] + [0.0])
    phi = None
    for masks in C.enumerate_masks(n, batch_size):
        v = evaluate(utility, masks, batch_size)
        flat = v.reshape(len(v), -1)
        size = masks.sum(1)
        # sum_S [i in S] (w_in + w_out) v(S) - sum_S w_out v(S), for every i at once
        part = masks.T.astype(np.float64) @ ((w_in + w_out)[size][:, None] * flat) - w_out[size] @ flat
        phi = part if phi is None else phi + part
    return phi.reshape(n, *v.shape[1:])


# ---------------------------------------------------------------------------------------------- KernelSHAP


@dataclass
class KernelInfo:
    """Uncertainty of a KernelSHAP estimate (Covert & Lee 2021).

    std: standard errors ``[n, *out]`` (delta method on the constrained least-squares solution, over
    independent samples, or over (s, 1 - s) pairs for paired samples); convergence: max_i std_i /
    (max_i phi_i - min_i phi_i) per output ``[*out]`` (Covert & Lee's stopping signal: below about 0.01 the
    estimate has converged; inf when the values are all equal but uncertain); n_samples: coalitions used;
    paired: whether the variance was computed over pairs.
    """

    std: np.ndarray
    convergence: np.ndarray
    n_samples: int
    paired: bool


def _is_paired(masks: np.ndarray) -> bool:
    even = len(masks) - len(masks) % 2
    return even >= 2 and bool(np.all(masks[0:even:2] != masks[1:even:2]))


def _check_samples(
    masks: np.ndarray, utilities: np.ndarray, null: np.ndarray, grand: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate KernelSHAP's inputs: (masks bool ``[S, n]``, utilities, null, grand as float64)."""
    masks = np.asarray(masks)
    if masks.ndim != 2 or masks.dtype != bool:
        raise ValueError(f"masks must be a bool [S, n] array, got {masks.dtype} {list(masks.shape)}")
    utilities = np.asarray(utilities, dtype=np.float64)
    s, n = masks.shape
    C.check_n(n, "masks.shape[1] (n)")
    if utilities.ndim < 1 or utilities.shape[0] != s:
        raise ValueError(f"utilities has shape {list(utilities.shape)} but masks has {s} rows")
    out_shape = utilities.shape[1:]
    null = np.asarray(null, dtype=np.float64)
    grand = np.asarray(grand, dtype=np.float64)
    for name, a in (("null", null), ("grand", grand)):
        if a.shape != out_shape:
            raise ValueError(f"{name} has shape {list(a.shape)}; utilities rows have shape {list(out_shape)}")
    for name, a in (("utilities", utilities), ("null", null), ("grand", grand)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or Inf")
    sizes = masks.sum(1)
    if ((sizes == 0) | (sizes == n)).any():
        raise ValueError("masks holds empty or full coalitions, which the Shapley kernel never draws")
    if s < n:
        raise ValueError(f"KernelSHAP needs at least n = {n} coalitions, got {s}")
    return masks, utilities, null, grand


def _constrained_solve(x: np.ndarray, y: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """min_phi mean_t (y_t - x_t^T phi)^2 s.t. 1^T phi = total: (phi ``[n, O]``, the projection P ``[n, n]``).

    x ``[S, n]`` float64 masks, y ``[S, O]`` utilities minus v(0), total ``[O]``. The solution is P b + c.
    """
    s = len(x)
    a_inv = np.linalg.pinv(x.T @ x / s)
    b = x.T @ y / s  # [n, O]
    a_inv_1 = a_inv.sum(1)
    proj = a_inv - np.outer(a_inv_1, a_inv_1) / a_inv_1.sum()  # P: the constrained solution is P b + c
    phi = proj @ b + np.outer(a_inv_1 / a_inv_1.sum(), total)  # [n, O]
    return phi, proj


def _kernel_std(x: np.ndarray, y: np.ndarray, phi: np.ndarray, proj: np.ndarray, paired: bool) -> np.ndarray:
    """Delta-method standard errors of ``phi [n, O]``: ``[n, O]``, over samples or over (s, 1 - s) pairs.

    The influence of sample t on phi is P s_t r_t with residual r_t = y_t - s_t^T phi.
    """
    s = len(x)
    g = x @ proj  # [S, n], (P s_t)^T (P is symmetric)
    r = y - x @ phi  # [S, O]
    if paired:
        even = s - s % 2
        ga, gb, ra, rb = g[0:even:2], g[1:even:2], r[0:even:2], r[1:even:2]
        units = even // 2
        mean = (ga.T @ ra + gb.T @ rb) / (2 * units)
        second = ((ga**2).T @ ra**2 + (gb**2).T @ rb**2 + 2 * (ga * gb).T @ (ra * rb)) / (4 * units)
    else:
        units = s
        mean = g.T @ r / s
        second = (g**2).T @ r**2 / s
    var = np.maximum(second - mean**2, 0.0) * units / max(units - 1, 1)
    return np.sqrt(var / units)


def _convergence(values: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Covert & Lee's ratio max_i std_i / (max_i phi_i - min_i phi_i) per output ``[*out]`` (see KernelInfo)."""
    spread = values.max(0) - values.min(0)
    top = std.max(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        convergence = np.where(spread > 0, top / np.where(spread > 0, spread, 1.0), np.where(top > 0, np.inf, 0.0))
    return np.asarray(convergence, dtype=np.float64)


def kernel_from_samples(
    masks: np.ndarray,
    utilities: np.ndarray,
    null: np.ndarray,
    grand: np.ndarray,
    *,
    paired: bool | None = None,
    return_info: bool = False,
):
    """KernelSHAP on precomputed coalitions drawn from the Shapley kernel: ``[n, *out]``.

    Solves min_phi mean_t (v(s_t) - v(0) - s_t^T phi)^2 subject to 1^T phi = v(1) - v(0). The rows are
    draws from the kernel (:func:`~fastdatashapley.coalitions.kernel_masks`), so each has equal weight;
    empty and full coalitions are rejected (the kernel never draws them). masks ``[S, n]`` bool,
    utilities ``[S, *out]``, null and grand ``[*out]``. ``paired=None`` detects (s, 1 - s) pairs in
    rows (2t, 2t + 1); pairing only changes the standard errors. With ``return_info`` also returns
    :class:`KernelInfo`. Cost O(S n^2 + S n O) time and O(S (n + O)) memory, O = prod(out).
    """
    masks, utilities, null, grand = _check_samples(masks, utilities, null, grand)
    s, n = masks.shape
    out_shape = utilities.shape[1:]
    x = masks.astype(np.float64)
    y = utilities.reshape(s, -1) - null.reshape(1, -1)  # [S, O]
    phi, proj = _constrained_solve(x, y, (grand - null).reshape(-1))
    values = phi.reshape(n, *out_shape)
    if not return_info:
        return values
    paired = _is_paired(masks) if paired is None else bool(paired)
    std = _kernel_std(x, y, phi, proj, paired).reshape(n, *out_shape)
    return values, KernelInfo(std, _convergence(values, std), s, paired)


def kernel(
    utility: Utility,
    n: int,
    n_samples: int,
    *,
    paired: bool = True,
    seed: C.Seed = 0,
    batch_size: int = 1024,
    return_info: bool = False,
):
    """KernelSHAP with ``n_samples`` Shapley-kernel coalitions (paired by default): ``[n, *out]``.

    Draws :func:`~fastdatashapley.coalitions.kernel_masks`, evaluates them (plus the empty and full
    coalitions: n_samples + 2 evaluations) and solves with :func:`kernel_from_samples`. With
    ``return_info`` returns ``(values, KernelInfo)`` (standard errors and convergence ratio).
    """
    n = C.check_n(n)
    n_samples = C._check_count(n_samples, "n_samples")
    if n_samples < n:
        raise ValueError(f"KernelSHAP needs n_samples >= n = {n}, got {n_samples}")
    masks = C.kernel_masks(n, n_samples, paired=paired, seed=seed)
    null, grand = _ends(utility, n, batch_size)
    values = evaluate(utility, masks, batch_size, null.shape)
    return kernel_from_samples(masks, values, null, grand, paired=paired, return_info=return_info)


# ---------------------------------------------------------------------------------------------- LOO


def loo(utility: Utility, n: int, *, batch_size: int = 1024) -> np.ndarray:
    """Leave-one-out: v(1) - v(1 - e_i), ``[n, *out]``.

    n + 1 utility evaluations on :func:`~fastdatashapley.coalitions.loo_masks`.
    """
    n = C.check_n(n)
    v = evaluate(utility, C.loo_masks(n), batch_size)
    return v[0][None] - v[1:]


# ---------------------------------------------------------------------------------------------- TMC


def truncation_rule(
    grand: np.ndarray, tolerance: float, score: Score | None = None
) -> Callable[[np.ndarray], np.ndarray]:
    """A test ``values [k, *out] -> bool [k]``: is each prefix utility within tolerance of the full-data one.

    ``score=None``: every output within ``tolerance * max|grand|`` of ``grand [*out]``; else the scalar
    ``score(values) [k]`` within ``tolerance * |score(grand)|`` of the full-data score.
    """
    if score is None:
        scale = tolerance * float(np.abs(grand).max())

        def close(values: np.ndarray) -> np.ndarray:
            return (np.abs(values - grand[None]).reshape(len(values), -1) <= scale).all(1)

        return close
    target = np.asarray(score(grand[None]), dtype=np.float64).reshape(-1)
    if target.shape != (1,) or not np.isfinite(target).all():
        raise ValueError(f"score must map values [k, *out] to finite [k]; it gave {target!r} for the full data")

    def close_score(values: np.ndarray) -> np.ndarray:
        got = np.asarray(score(values), dtype=np.float64)
        if got.shape != (len(values),):
            raise ValueError(f"score returned shape {list(got.shape)} for {len(values)} rows; expected [{len(values)}]")
        return np.abs(got - target[0]) <= tolerance * abs(target[0])

    return close_score


def check_tolerance(tolerance: float) -> None:
    """Validate a TMC truncation ``tolerance`` (:func:`tmc`, :func:`tmc_sequential`, FreeShap): finite, >= 0."""
    if (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float, np.integer, np.floating))
            or not (np.isfinite(tolerance) and tolerance >= 0)):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance!r}")


def check_tmc_args(patience: int, convergence: float = 0.0, window: int = 1) -> None:
    """Validate the stopping rules every TMC walk shares (:class:`TMCStop`, FreeShap)."""
    C._check_count(patience, "patience", 0)
    if not convergence >= 0:
        raise ValueError(f"convergence must be >= 0, got {convergence}")
    C._check_count(window, "window")


@dataclass(frozen=True)
class TMCStop:
    """When a TMC walk stops (Ghorbani & Zou 2019), for :func:`tmc` and :func:`tmc_sequential`.

    Truncation: a permutation stops once its prefix utility has been within the walk's ``tolerance`` of
    the full-data utility v(D) for more than ``patience`` consecutive steps; its remaining marginals are 0.
    "Within tolerance" for multi-output utilities (:func:`truncation_rule`): with ``score=None``, every
    output is within ``tolerance * max|v(D)|`` of its full-data value (for a scalar utility this is the
    paper's relative 1 %); with ``score`` (``values [k, *out] -> [k]``, e.g. accuracy from softmax), the
    scalar score is within ``tolerance * |score(v(D))|`` of the full-data score.
    Convergence: after every ``window`` permutations (100, as in the paper) the running mean is compared
    with the one a window earlier; sampling stops when sum|change| / sum|values| < ``convergence``
    (0 disables). Validated on construction (:func:`check_tmc_args`).
    """

    patience: int = 5
    convergence: float = 0.05
    window: int = 100
    score: Score | None = None

    def __post_init__(self) -> None:
        check_tmc_args(self.patience, self.convergence, self.window)


def _check_stop(stop: TMCStop) -> TMCStop:
    if not isinstance(stop, TMCStop):
        raise TypeError(f"stop must be a TMCStop, got {type(stop).__name__}")
    return stop


def walk_permutations(
    orders: np.ndarray,
    step: Callable[[np.ndarray, int], np.ndarray],
    start: np.ndarray,
    close: Callable[[np.ndarray], np.ndarray] | None,
    patience: int,
    total: np.ndarray,
) -> None:
    """Walk the permutations ``orders [b, n]`` together, adding marginal contributions into ``total [n, *out]``.

    At position j, ``step(rows, j)`` returns the utilities ``[len(rows), *out]`` of the prefixes
    ``orders[rows, :j + 1]`` for the still-active permutations ``rows`` (ascending); player ``orders[r, j]``
    gets ``v - prev`` (``prev``: the row's previous utility, ``start [*out]`` for the empty prefix).
    Truncation: a permutation stops once ``close(values [k, *out]) -> bool [k]`` has held for more than
    ``patience`` consecutive positions, and its remaining players get 0. ``close=None`` never truncates.
    """
    b, n = orders.shape
    prev = np.repeat(np.asarray(start)[None], b, axis=0)
    streak = np.zeros(b, dtype=np.int64)
    active = np.ones(b, dtype=bool)
    for j in range(n):
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        v = step(rows, j)
        np.add.at(total, orders[rows, j], v - prev[rows])
        prev[rows] = v
        if close is not None:
            streak[rows] = np.where(close(v), streak[rows] + 1, 0)
            active[rows[streak[rows] > patience]] = False


class _PrefixUtility:
    """The ``step`` of :func:`walk_permutations` for a utility: ``[len(rows), O]`` float64, O = prod(out).

    Evaluates the active prefixes in calls of ``batch_size`` masks and returns v(D) ``grand [*out]`` at the
    last position without evaluating it; ``evaluations`` counts the utility rows evaluated.
    ``positions``: prefix positions evaluated per call. With 1, step j evaluates the j-th prefix of the active
    permutations only. With L > 1, step j (when not already held) evaluates positions j .. j + L - 1 of the
    active permutations in one call and serves the next L - 1 steps from it; the prefixes of a permutation
    truncated inside the block are evaluated but never used (they are counted). The walk, and so the values,
    are the same whenever the utility of a coalition does not depend on which coalitions share its call.
    """

    def __init__(self, utility: Utility, orders: np.ndarray, grand: np.ndarray, batch_size: int, positions: int = 1):
        self.utility, self.orders, self.grand, self.batch_size = utility, orders, grand, batch_size
        self.positions = positions
        self.rank = np.empty_like(orders)  # rank[r, i]: position of player i in permutation r
        np.put_along_axis(self.rank, orders, np.arange(orders.shape[1])[None], axis=1)
        self.evaluations = 0
        self.held: tuple[int, np.ndarray, np.ndarray] | None = None  # (first position, rows, values [L, rows, O])

    def __call__(self, rows: np.ndarray, j: int) -> np.ndarray:
        last = self.orders.shape[1] - 1
        if j == last:
            return np.repeat(self.grand.reshape(-1)[None], len(rows), axis=0)
        if self.held is None or j >= self.held[0] + len(self.held[2]):
            stop = min(j + self.positions, last)
            masks = self.rank[None, rows] <= np.arange(j, stop)[:, None, None]  # [L, rows, n]
            self.evaluations += masks.shape[0] * len(rows)
            v = evaluate(self.utility, masks.reshape(-1, masks.shape[2]), self.batch_size, self.grand.shape)
            self.held = (j, rows, v.reshape(masks.shape[0], len(rows), -1))
        first, held_rows, values = self.held
        return values[j - first][np.searchsorted(held_rows, rows)]  # rows only shrink inside a block


def permutation_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar over ``total`` permutations that shows fractions (:func:`with_progress` advances it per position)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="permutation", disable=not enabled,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} [{elapsed}<{remaining}]")


def with_progress(step: Callable[[np.ndarray, int], np.ndarray], bar, per_position: float
                  ) -> Callable[[np.ndarray, int], np.ndarray]:
    """``step`` of :func:`walk_permutations` that also advances the tqdm ``bar`` by ``per_position`` per position
    (the batch's permutations / n), so that a bar over permutations moves while a batch is walked."""

    def advance(rows: np.ndarray, j: int) -> np.ndarray:
        out = step(rows, j)
        bar.update(per_position)
        return out

    return advance


def _relative_change(now: np.ndarray, then: np.ndarray) -> float:
    """sum |now - then| / sum |now| over players and outputs (0 when both are 0)."""
    scale = float(np.abs(now).sum())
    diff = float(np.abs(now - then).sum())
    return 0.0 if diff == 0 else diff / scale if scale > 0 else np.inf


def _converged(total: np.ndarray, done: int, stop: TMCStop,
               snapshot: np.ndarray | None) -> tuple[bool, np.ndarray | None]:
    """The convergence stop after ``done`` permutations: (stop, the running mean to compare with next).

    Only every ``stop.window``-th permutation is a checkpoint; there the running mean ``total / done`` is
    compared with the previous checkpoint's.
    """
    if done % stop.window:
        return False, snapshot
    running = total / done
    return snapshot is not None and _relative_change(running, snapshot) < stop.convergence, running


def tmc(
    utility: Utility,
    n: int,
    n_permutations: int,
    *,
    tolerance: float = 0.01,
    stop: TMCStop = TMCStop(),
    batch_permutations: int = 64,
    batch_size: int = 1024,
    seed: C.Seed = 0,
    return_count: bool = False,
    progress: bool = False,
    block_positions: int = 1,
):
    """Truncated Monte Carlo DataShapley (Ghorbani & Zou 2019): ``[n, *out]``.

    Each permutation pi adds players one at a time; player pi_j gets v(pi_1..pi_j) - v(pi_1..pi_{j-1}).
    ``stop`` (:class:`TMCStop`) says when a permutation is truncated (its prefix utility within
    ``tolerance`` of the full-data utility v(D) for long enough) and when sampling has converged;
    ``n_permutations`` is the maximum.

    Batching: ``batch_permutations`` permutations are walked together (:func:`walk_permutations`); step j
    evaluates the j-th prefix of every still-active permutation in one utility call (chunks of
    ``batch_size``), and truncated permutations drop out. Batches never straddle a convergence checkpoint,
    so the result equals :func:`tmc_sequential` under the same seed, whatever ``batch_permutations`` is.
    The full coalition is never evaluated inside a permutation (v(D) is known). With ``return_count``
    returns ``(values, (permutations used, utility evaluations including v(0) and v(D)))``.

    ``block_positions`` (L): evaluate L prefix positions of the active permutations per utility call
    (:class:`_PrefixUtility`). A retraining utility pays a fixed cost per call and per training step, so the walk
    of one position at a time costs about n^2 / 2 sequential steps whatever ``batch_permutations`` is; with
    L positions a call trains L x ``batch_permutations`` sub-models together. Truncation decisions are unchanged;
    prefixes past a truncation inside a block are evaluated, counted, and discarded. For a utility whose value
    of a coalition does not depend on its call-mates the result is the same for every L (the batched engine's
    float rounding does depend on them, about 1e-7 before training amplifies it).
    """
    n, n_permutations = C.check_n(n), C._check_count(n_permutations, "n_permutations")
    check_tolerance(tolerance)
    stop = _check_stop(stop)
    batch_permutations = C._check_count(batch_permutations, "batch_permutations")
    block_positions = C._check_count(block_positions, "block_positions")
    rng = np.random.default_rng(seed)
    null, grand = _ends(utility, n, batch_size)
    rule = truncation_rule(grand, tolerance, stop.score)
    close = lambda v: rule(v.reshape(len(v), *grand.shape))  # noqa: E731  (the walk's values are flat [k, O])
    total = np.zeros((n, grand.size))
    snapshot = None
    done, evaluations = 0, 2
    bar = permutation_bar(n_permutations, "tmc permutations", progress)
    while done < n_permutations:
        checkpoint = (done // stop.window + 1) * stop.window
        b = min(batch_permutations, n_permutations - done, checkpoint - done)
        orders = C.permutations(n, b, seed=rng)
        step = _PrefixUtility(utility, orders, grand, batch_size, block_positions)
        walk_permutations(orders, with_progress(step, bar, b / n), null.reshape(-1), close, stop.patience, total)
        evaluations += step.evaluations
        done += b
        bar.n = done  # truncation may have ended the walk early
        bar.refresh()
        converged, snapshot = _converged(total, done, stop, snapshot)
        if converged:
            break
    bar.close()
    values = (total / done).reshape(n, *grand.shape)
    return (values, (done, evaluations)) if return_count else values


def tmc_sequential(
    utility: Utility,
    n: int,
    n_permutations: int,
    *,
    tolerance: float = 0.01,
    stop: TMCStop = TMCStop(),
    seed: C.Seed = 0,
    return_count: bool = False,
):
    """Reference TMC: one permutation at a time, one utility call per prefix (slow; for tests).

    Same algorithm, arguments and random stream as :func:`tmc`, written without :func:`walk_permutations`
    so that it checks the batched walk.
    """
    n, n_permutations = C.check_n(n), C._check_count(n_permutations, "n_permutations")
    check_tolerance(tolerance)
    stop = _check_stop(stop)
    rng = np.random.default_rng(seed)
    null, grand = _ends(utility, n, 1)
    close = truncation_rule(grand, tolerance, stop.score)
    total = np.zeros((n, *grand.shape))
    snapshot = None
    done, evaluations = 0, 2
    for _ in range(n_permutations):
        order = C.permutations(n, 1, seed=rng)[0]
        prefix = np.zeros(n, dtype=bool)
        prev, streak = null, 0
        for j, player in enumerate(order):
            prefix[player] = True
            if j < n - 1:
                v = evaluate(utility, prefix[None], 1, grand.shape)[0]
                evaluations += 1
            else:
                v = grand
            total[player] += v - prev
            prev = v
            streak = streak + 1 if close(v[None])[0] else 0
            if streak > stop.patience:
                break
        done += 1
        converged, snapshot = _converged(total, done, stop, snapshot)
        if converged:
            break
    values = total / done
    return (values, (done, evaluations)) if return_count else values


# ---------------------------------------------------------------------------------------------- group testing


def group_testing_sizes(n: int) -> tuple[np.ndarray, float]:
    """Jia et al.'s test-size law: (q(k) for k = 1..n-1 ``[n - 1]``, Z) with Z = 2 sum_{k<n} 1/k,
    q(k) = (1/k + 1/(n-k)) / Z (it sums to 1 and equals the Shapley-kernel size law)."""
    n = C.check_n(n)
    k = np.arange(1, n, dtype=np.float64)
    z = 2.0 * np.sum(1.0 / k)
    return (1.0 / k + 1.0 / (n - k)) / z, z


@lru_cache(maxsize=8)
def _gap_constraints(n: int):
    """Sparse rows of +-(s_i - s_j) - e <= +-Delta_ij for i < j over variables (s_1..s_n, e)."""
    from scipy.sparse import coo_matrix, hstack, vstack

    i, j = np.triu_indices(n, 1)
    pairs = len(i)
    rows = np.repeat(np.arange(pairs), 2)
    diff = coo_matrix((np.tile([1.0, -1.0], pairs), (rows, np.stack([i, j], 1).ravel())), shape=(pairs, n))
    e_col = coo_matrix(-np.ones((pairs, 1)))
    return i, j, vstack([hstack([diff, e_col]), hstack([-diff, e_col])]).tocsr()


def group_testing_lp(
    delta: np.ndarray,
    total: float,
    *,
    epsilon: float | None = None,
    on_infeasible: Literal["warn", "raise"] = "warn",
) -> tuple[np.ndarray, float]:
    """Recover values from pairwise differences with Jia et al.'s feasibility program (HiGHS).

    The paper's program: find s with sum_i s_i = ``total`` and |s_i - s_j - delta_ij| <= ``epsilon`` for
    all i < j (``delta [n, n]``; only the upper triangle is read). ``epsilon`` is the tolerated error of
    each estimated pairwise difference, in utility units. We solve the linear program
    min e s.t. sum_i s_i = total, |s_i - s_j - delta_ij| <= e, which returns the feasible point with the
    smallest largest violation e*; it satisfies the paper's program for every epsilon >= e*.
    If ``epsilon`` is given and e* > epsilon (the paper's program is infeasible), ``on_infeasible="warn"``
    returns the e* solution with a RuntimeWarning and ``"raise"`` raises ValueError. Returns (s ``[n]``, e*).
    Cost: one LP with n + 1 variables and n (n - 1) sparse inequality rows (about 0.06 s at n = 100 on one CPU core).
    """
    from scipy.optimize import linprog

    delta = np.asarray(delta, dtype=np.float64)
    if delta.ndim != 2 or delta.shape[0] != delta.shape[1]:
        raise ValueError(f"delta must be a square [n, n] matrix, got shape {list(delta.shape)}")
    n = C.check_n(delta.shape[0], "delta.shape[0] (n)")
    if epsilon is not None and not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    if on_infeasible not in ("warn", "raise"):
        raise ValueError(f"on_infeasible must be 'warn' or 'raise', got {on_infeasible!r}")
    if not (np.isfinite(delta).all() and np.isfinite(total)):
        raise ValueError("delta and total must be finite")
    i, j, a_ub = _gap_constraints(n)
    d = delta[i, j]
    cost = np.zeros(n + 1)
    cost[-1] = 1.0
    res = linprog(cost, A_ub=a_ub, b_ub=np.concatenate([d, -d]), A_eq=np.append(np.ones(n), 0.0)[None],
                  b_eq=[float(total)], bounds=[(None, None)] * n + [(0, None)], method="highs")
    if res.status != 0:
        raise RuntimeError(f"group testing LP failed: {res.message}")
    values, gap = res.x[:n], float(res.x[n])
    slack = 1e-9 * max(1.0, float(np.abs(d).max(initial=0.0)), abs(float(total)))
    if epsilon is not None and gap > epsilon + slack:
        msg = (f"group testing: the feasibility program is infeasible at epsilon={epsilon:.4g}; the smallest "
               f"feasible epsilon is {gap:.4g}")
        if on_infeasible == "raise":
            raise ValueError(msg)
        warnings.warn(msg + "; returning that solution", RuntimeWarning, stacklevel=3)
    return values, gap


def group_testing(
    utility: Utility,
    n: int,
    n_samples: int,
    *,
    epsilon: float | None = None,
    seed: C.Seed = 0,
    batch_size: int = 1024,
    solver: Literal["lp", "closed_form"] = "lp",
    on_infeasible: Literal["warn", "raise"] = "warn",
) -> np.ndarray:
    """Group-testing Shapley (Jia et al. 2019): ``[n, *out]`` from ``n_samples`` tests (+ 2 evaluations).

    Tests beta_t have size k ~ q(k) (:func:`group_testing_sizes`), then a uniform subset. With
    U_t = v(beta_t), Delta_ij = (Z / T) sum_t U_t (beta_ti - beta_tj) estimates phi_i - phi_j, and the
    values solve, per output, the feasibility program of :func:`group_testing_lp` (sum = v(D) - v(0),
    |s_i - s_j - Delta_ij| <= epsilon; see there for epsilon and infeasibility).
    Because Delta_ij = B_i - B_j with B_i = (Z/T) sum_t U_t beta_ti, the program is feasible at epsilon = 0
    and its unique e* = 0 solution is B + (v(D) - v(0) - sum B) / n. ``solver="lp"`` solves one HiGHS LP per
    output (cost: prod(out) LPs of n (n - 1) rows each); ``solver="closed_form"`` returns that solution
    directly (same values up to LP rounding, O(n O) time).
    """
    n = C.check_n(n)
    n_samples = C._check_count(n_samples, "n_samples")
    if n_samples < 2:
        raise ValueError(f"group testing needs n_samples >= 2, got {n_samples}")
    if epsilon is not None and not epsilon >= 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    if solver not in ("lp", "closed_form"):
        raise ValueError(f"solver must be 'lp' or 'closed_form', got {solver!r}")
    rng = np.random.default_rng(seed)
    q, z = group_testing_sizes(n)
    sizes = rng.choice(np.arange(1, n), size=n_samples, p=q)
    masks = C.subsets_of_size(n, sizes, rng)
    null, grand = _ends(utility, n, batch_size)
    u = evaluate(utility, masks, batch_size, null.shape).reshape(n_samples, -1)  # [T, O]
    b = masks.T.astype(np.float64) @ u * (z / n_samples)  # [n, O]; Delta_ij = b_i - b_j
    total = (grand - null).reshape(-1)
    if solver == "closed_form":
        out = b + (total - b.sum(0)) / n
    else:
        out = np.empty_like(b)
        for o in range(b.shape[1]):
            delta = b[:, o][:, None] - b[:, o][None, :]
            out[:, o], _ = group_testing_lp(delta, total[o], epsilon=epsilon, on_infeasible=on_infeasible)
    return out.reshape(n, *grand.shape)


# ---------------------------------------------------------------------------------------------- groups


def _groups_and_n(groups: Sequence[Sequence[int]]) -> tuple[list[np.ndarray], int]:
    """Validate ``groups`` as a partition of range(n), n = largest index + 1."""
    try:
        sizes = [np.size(g) for g in groups]
        n = 1 + max((int(np.max(g)) for g, k in zip(groups, sizes) if k), default=-1)
    except (TypeError, ValueError):
        raise ValueError("groups must be a sequence of integer index arrays") from None
    groups = C.check_groups(groups, n)
    if len(groups) < 2:
        raise ValueError(f"groups must hold at least 2 groups, got {len(groups)}")
    return groups, n


def group_level(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    n_samples: int | None = None,
    *,
    seed: C.Seed = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS+: the N groups are the players; each group's value is split evenly among its members.

    ``groups`` partition range(n), n = total size. Exact over the groups (2^N evaluations) when
    ``n_samples`` is None, else KernelSHAP with ``n_samples`` group coalitions (seeded), each expanded to
    a data mask (:func:`~fastdatashapley.coalitions.expand_groups`). Returns ``[n, *out]`` with
    phi_i = phi_{G_j} / |G_j| for i in G_j.
    """
    groups, n = _groups_and_n(groups)

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
    seed: C.Seed = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS for group ``j``: Shapley values of its members in the game whose players are those members plus
    every other group as one player (|G_j| + N - 1 players, :func:`~fastdatashapley.coalitions.gfds_players`).
    Exact when ``n_samples`` is None, else KernelSHAP with ``n_samples`` player coalitions.
    Returns ``[|G_j|, *out]`` in the order of ``groups[j]``.
    """
    groups, n = _groups_and_n(groups)
    players = C.gfds_players(groups, j)

    def player_utility(player_masks: np.ndarray) -> np.ndarray:
        return utility(C.expand_groups(players, player_masks, n))

    m = len(players)
    if n_samples is None:
        phi = exact(player_utility, m, batch_size=batch_size)
    else:
        phi = kernel(player_utility, m, n_samples, seed=seed, batch_size=batch_size)
    return phi[: len(groups[j])]


def gfds(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    n_samples: int | None = None,
    *,
    seed: int = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS values of every point: :func:`gfds_group` for each group j (seed ``[seed, j]``): ``[n, *out]``.

    Costs N games of |G_j| + N - 1 players (exact: sum_j 2^(|G_j| + N - 1) evaluations). The values are
    not efficient overall: each group's values sum to that group's value in its own game.
    """
    groups, n = _groups_and_n(groups)
    phi = None
    for j, g in enumerate(groups):
        part = gfds_group(utility, groups, j, n_samples, seed=[seed, j], batch_size=batch_size)
        if phi is None:
            phi = np.empty((n, *part.shape[1:]))
        phi[g] = part
    return phi


# ---------------------------------------------------------------------------------------------- CS-Shapley


def class_wise(
    utility: Callable[[np.ndarray, int], np.ndarray],
    labels: np.ndarray,
    n_contexts: int,
    n_permutations: int,
    *,
    seed: C.Seed = 0,
    batch_size: int = 4096,
) -> np.ndarray:
    """CS-Shapley's class-wise estimator (Schoch et al. 2022), before per-class normalisation: ``[n, *out]``.

    API: ``utility(masks [k, n] bool, c) -> [k, *out]`` receives data masks (in-class coalition plus
    out-of-class context) and the class c being valued; the in-class part of a mask is
    ``masks[:, labels == c]`` and the context ``masks[:, labels != c]``.
    Estimator, per class c (players: the points with label c): draw ``n_contexts`` contexts S_out uniformly
    from the subsets of the out-of-class points (each joins with probability 1/2); for each, walk
    ``n_permutations`` uniform permutations of the in-class players, evaluating v(S_in + S_out, c) for every
    prefix S_in (including the empty one: the context alone). A point's value is its mean marginal
    contribution over all contexts and permutations: an unbiased estimate of
    E_{S_out}[phi_i(v(. + S_out, c))]. Each class's values sum to the mean over contexts of
    v(class c + S_out, c) - v(S_out, c); the paper's per-class normalisation is left to the caller
    (:func:`fastdatashapley.baselines.cs_shapley`). Cost: sum_c n_contexts * n_permutations * (|c| + 1)
    evaluations.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {list(labels.shape)}")
    n = C.check_n(len(labels), "len(labels)")
    n_contexts = C._check_count(n_contexts, "n_contexts")
    n_permutations = C._check_count(n_permutations, "n_permutations")
    rng = np.random.default_rng(seed)
    phi = None
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        others = np.flatnonzero(labels != c)
        contexts = rng.random((n_contexts, len(others))) < 0.5
        k = n_contexts * n_permutations
        orders = np.argsort(rng.random((k, len(members))), axis=1)
        masks = np.zeros((k, len(members) + 1, n), dtype=bool)
        masks[:, :, members] = C.prefix_masks(orders)
        masks[:, :, others] = np.repeat(contexts, n_permutations, axis=0)[:, None, :]
        v = evaluate(lambda m, c=c: utility(m, c.item()), masks.reshape(-1, n), batch_size)
        v = v.reshape(k, len(members) + 1, *v.shape[1:])
        if phi is None:
            phi = np.zeros((n, *v.shape[2:]))
        marg = np.diff(v, axis=1)  # [k, |c|, *out]: the marginal of the j-th player of each order
        np.add.at(phi, members[orders].ravel(), marg.reshape(-1, *v.shape[2:]))
        phi[members] /= k
    return phi
