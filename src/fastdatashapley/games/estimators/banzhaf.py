"""Data Banzhaf (Wang and Jia, 2023) and the datamodel regression (Ilyas et al., 2022): values from random subsets.

The Banzhaf value of player i is the mean marginal contribution over all subsets of the others, each equally
likely: beta_i = E_{S subset of N \\ {i}} [v(S + i) - v(S)]. With coalitions s drawn by keeping each player
independently with probability 1/2, beta_i = E[v(s) | s_i = 1] - E[v(s) | s_i = 0]; the maximum-sample-reuse (MSR)
estimator replaces both expectations by sample means over the same draws, so every evaluation informs every player.
Among semivalues it keeps its ranking under the most retraining noise. It is not efficient: the values do not sum
to v(N) - v(0).

The datamodel of a sample is the linear model of its utility in the subset's indicator, fitted by (ridge) least
squares on subsets that keep each point with probability alpha: v(s) ~ c + s^T w. At alpha = 1/2 its population
solution is the Banzhaf value (the best linear approximation of a game under the uniform distribution, Hammer and
Holzman 1992), so both are the references for the LDS, which scores additive predictions on such subsets.
"""

from __future__ import annotations

import numpy as np

from ...base.checks import check_count, check_n
from .. import coalitions as C
from ..utility import Utility, evaluate


def msr_from_samples(masks: np.ndarray, utilities: np.ndarray) -> np.ndarray:
    """Banzhaf MSR values ``[n, *out]`` from coalitions ``masks [S, n]`` (bool) and their utilities ``[S, *out]``.

    beta_i = mean of v over the rows with i, minus the mean over the rows without it. A player in every row or in
    none has no estimate: ValueError naming it (draw more rows).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2:
        raise ValueError(f"masks must be a bool [S, n] array, got shape {list(masks.shape)}")
    u = np.asarray(utilities, dtype=np.float64)
    if u.ndim < 1 or u.shape[0] != masks.shape[0]:
        raise ValueError(f"utilities has shape {list(u.shape)} but masks has {masks.shape[0]} rows")
    if not np.isfinite(u).all():
        raise ValueError("utilities holds NaN or Inf")
    inside = masks.sum(0)
    bad = np.flatnonzero((inside == 0) | (inside == len(masks)))
    if bad.size:
        raise ValueError(f"player {int(bad[0])} is in every row or in none of the {len(masks)} coalitions; "
                         "the MSR estimate needs both")
    flat = u.reshape(len(u), -1)
    x = masks.astype(np.float64)
    with_i = x.T @ flat / inside[:, None]
    without_i = (flat.sum(0)[None] - x.T @ flat) / (len(masks) - inside)[:, None]
    return (with_i - without_i).reshape(masks.shape[1], *u.shape[1:])


def banzhaf(utility: Utility, n: int, n_samples: int, *, seed: C.Seed = 0, batch_size: int = 1024) -> np.ndarray:
    """Data Banzhaf by MSR: ``[n, *out]`` from ``n_samples`` coalitions, each point kept with probability 1/2."""
    n = check_n(n)
    n_samples = check_count(n_samples, "n_samples")
    masks = C.alpha_subsets(n, n_samples, 0.5, seed=seed)
    return msr_from_samples(masks, evaluate(utility, masks, batch_size))


def datamodel_from_samples(masks: np.ndarray, utilities: np.ndarray, *, ridge: float = 1e-3) -> np.ndarray:
    """Datamodel weights ``[n, *out]``: ridge least squares of ``utilities [S, *out]`` on ``masks [S, n]`` with a free
    intercept, one regression per output (they share the design, so one solve serves all).

    ``ridge`` is relative: the penalty is ``ridge * S * var(s_i)`` per weight (scale-free in S and alpha).
    """
    masks = np.asarray(masks, dtype=bool)
    u = np.asarray(utilities, dtype=np.float64)
    if masks.ndim != 2 or u.ndim < 1 or u.shape[0] != masks.shape[0]:
        raise ValueError(f"masks [S, n] and utilities [S, *out] must share S, got {list(masks.shape)} and "
                         f"{list(u.shape)}")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge!r}")
    if not np.isfinite(u).all():
        raise ValueError("utilities holds NaN or Inf")
    x = masks.astype(np.float64)
    x -= x.mean(0)  # centring removes the intercept
    flat = u.reshape(len(u), -1)
    flat = flat - flat.mean(0)
    gram = x.T @ x
    penalty = ridge * max(float(np.trace(gram)) / x.shape[1], 1e-12)
    gram[np.diag_indices_from(gram)] += penalty
    weights = np.linalg.solve(gram, x.T @ flat)
    return weights.reshape(masks.shape[1], *u.shape[1:])
