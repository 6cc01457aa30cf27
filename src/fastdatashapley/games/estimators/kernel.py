"""KernelSHAP: the Shapley values as the constrained weighted least-squares fit to Shapley-kernel coalitions.

:func:`kernel` samples and evaluates the coalitions; :func:`kernel_from_samples` solves from a table of them
(per-sample KernelSHAP on a utility table), with delta-method standard errors (:class:`KernelInfo`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...base.checks import check_count, check_n
from .. import coalitions as C
from ..utility import Utility, ends, evaluate


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
    check_n(n, "masks.shape[1] (n)")
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
    draws from the kernel (:func:`~fastdatashapley.games.coalitions.kernel_masks`), so each has equal weight;
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

    Draws :func:`~fastdatashapley.games.coalitions.kernel_masks`, evaluates them (plus the empty and full
    coalitions: n_samples + 2 evaluations) and solves with :func:`kernel_from_samples`. With
    ``return_info`` returns ``(values, KernelInfo)`` (standard errors and convergence ratio).
    """
    n = check_n(n)
    n_samples = check_count(n_samples, "n_samples")
    if n_samples < n:
        raise ValueError(f"KernelSHAP needs n_samples >= n = {n}, got {n_samples}")
    masks = C.kernel_masks(n, n_samples, paired=paired, seed=seed)
    null, grand = ends(utility, n, batch_size)
    values = evaluate(utility, masks, batch_size, null.shape)
    return kernel_from_samples(masks, values, null, grand, paired=paired, return_info=return_info)
