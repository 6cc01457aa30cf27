"""The linear datamodeling score (LDS) of datamodels, TRAK and dattri.

M held-out subsets s_1..s_M of the n training points are drawn, each point kept independently with
probability alpha (the ``lds`` coalition design), and retrained; no valuation method may see them. For a test sample (x, y) a value vector
phi predicts the additive utility g(s) = v_{x,y}(0) + sum_{i in s} phi_i(x, y), and

    LDS(x) = Spearman rank correlation over j = 1..M of g(s_j) and the retrained v_{x,y}(s_j).

The mean over test samples (with a bootstrap CI, ``stats.bootstrap_ci``) is the reported score. For an
additive game the exact Shapley values give 1; in general they give the ceiling of an additive vector, not 1.

Only numpy and scipy are imported, so report rules run without torch.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from .stats import bootstrap_ci

MIN_SUBSETS = 3  # a rank correlation over fewer subsets says nothing


def _spearman_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each column pair of ``a`` and ``b`` ``[M, T]`` -> ``[T]``; ties get average
    ranks; a constant column gives NaN."""
    ra, rb = rankdata(a, axis=0), rankdata(b, axis=0)
    ra, rb = ra - ra.mean(axis=0), rb - rb.mean(axis=0)
    denom = np.sqrt((ra * ra).sum(axis=0) * (rb * rb).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(axis=0) / np.where(denom > 0, denom, 1.0), np.nan)


def lds(values: np.ndarray, masks: np.ndarray, utilities: np.ndarray, null: np.ndarray | float) -> np.ndarray:
    """LDS of each test sample ``[T]``.

    ``values`` ``[n, T]`` holds each test sample's values at its own label (or ``[n]``, one global vector
    broadcast to every sample); ``masks`` ``[M, n]`` the held-out subsets; ``utilities`` ``[M, T]`` the
    retrained v_{x,y}(s_j) at each sample's own label; ``null`` ``[T]`` (or a scalar) v_{x,y}(0).

    NaN policy: a sample whose additive prediction or retrained utility is constant over the M subsets (all
    values zero on the points that vary, a saturated utility) has no rank correlation, and its LDS is NaN.
    Summaries drop NaNs (``stats.bootstrap_ci``) and report how many were dropped (``lds_summary``).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or masks.shape[0] < MIN_SUBSETS:
        raise ValueError(f"masks must be [M, n] with M >= {MIN_SUBSETS}, got shape {masks.shape}")
    m_subsets, n = masks.shape
    u = np.asarray(utilities, dtype=float)
    if u.ndim != 2 or u.shape[0] != m_subsets:
        raise ValueError(f"utilities must be [M={m_subsets}, T], got shape {u.shape}")
    t = u.shape[1]
    phi = np.asarray(values, dtype=float)
    phi = np.broadcast_to(phi[:, None], (n, t)) if phi.ndim == 1 and phi.shape[0] == n else phi
    if phi.shape != (n, t):
        raise ValueError(f"values must be [n={n}, T={t}] or [n={n}], got shape {np.shape(values)}")
    v0 = np.asarray(null, dtype=float)
    if v0.shape not in ((), (t,)):
        raise ValueError(f"null must be [T={t}] or a scalar, got shape {v0.shape}")
    predicted = v0 + masks.astype(float) @ phi  # [M, T]
    return _spearman_columns(predicted, u)


def lds_own_label(values: np.ndarray, labels: np.ndarray, masks: np.ndarray, utilities: np.ndarray,
                  null: np.ndarray) -> np.ndarray:
    """LDS ``[T]`` from per-label arrays: each test sample is scored at its own label ``labels`` ``[T]``.

    ``values`` ``[n, T, m]`` per-sample values for every label (or ``[n]``, global), ``utilities``
    ``[M, T, m]`` and ``null`` ``[T, m]`` a utility table's slice for these T probe points.
    """
    labels = np.asarray(labels)
    u, v0 = np.asarray(utilities), np.asarray(null)
    if labels.ndim != 1 or u.ndim != 3 or u.shape[1] != labels.shape[0]:
        raise ValueError(f"utilities must be [M, T, m] with T = len(labels) = {labels.shape}, got {u.shape}")
    if v0.shape != u.shape[1:]:
        raise ValueError(f"null must be [T, m] = {u.shape[1:]}, got shape {v0.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= u.shape[2]):
        raise ValueError(f"labels must lie in [0, {u.shape[2]}), got range [{labels.min()}, {labels.max()}]")
    rows = np.arange(labels.size)
    phi = np.asarray(values)
    if phi.ndim == 3:
        if phi.shape[1:] != u.shape[1:]:
            raise ValueError(f"values must be [n, T, m] with [T, m] = {u.shape[1:]}, got shape {phi.shape}")
        phi = phi[:, rows, labels]
    return lds(phi, masks, u[:, rows, labels], v0[rows, labels])


def lds_summary(scores: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Mean LDS over test samples with its bootstrap CI, and the counts: ``mean, ci_low, ci_high,
    n_samples, n_undefined`` (samples whose LDS is NaN, excluded from the mean)."""
    scores = np.asarray(scores, dtype=float)
    mean, low, high = bootstrap_ci(scores, n_boot=n_boot, level=level, seed=seed)
    return {"mean": mean, "ci_low": low, "ci_high": high, "n_samples": int(scores.size),
            "n_undefined": int(np.isnan(scores).sum())}


def retest_correlation(first: np.ndarray, second: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Test-retest Spearman ``[T]`` of each test sample's utility at its own label ``labels [T]`` over the M
    subsets, between two retrainings of the same subsets: ``first``, ``second`` ``[M, T, m]``."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.ndim != 3 or first.shape[1] != len(labels):
        raise ValueError(f"the two retrainings must both be [M, T = {len(labels)}, m], got {list(first.shape)} and "
                         f"{list(second.shape)}")
    rows = np.arange(len(labels))
    return _spearman_columns(first[:, rows, labels], second[:, rows, labels])


def noise_ceiling(retest: np.ndarray, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """The LDS a predictor could reach at most under retraining noise: sqrt of the mean test-retest Spearman over
    test samples (``retest [T]``, :func:`retest_correlation`), with the bootstrap CI of that mean taken through the
    square root (negative bounds clip to 0); the keys of :func:`lds_summary`."""
    row = lds_summary(retest, n_boot=n_boot, level=level, seed=seed)
    return {**row, **{k: float(np.sqrt(max(row[k], 0.0))) for k in ("mean", "ci_low", "ci_high")}}
