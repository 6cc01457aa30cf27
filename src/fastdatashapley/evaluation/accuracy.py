"""Accuracy of estimated Shapley values against exact ones (Pearson, Spearman, relative L2 error)."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr

from .stats import bootstrap_ci


def compare(estimate: np.ndarray, exact: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """Mean over samples of the agreement of each sample's values for its own label, with 95 % bootstrap CIs.

    estimate, exact: ``[n, S, m]`` (n training points, S samples, m labels); labels ``[S]``.
    Returns ``{pearson, spearman, rel_l2}`` (rel_l2 = ||est - exact|| / ||exact||), each with
    ``<metric>_ci_low`` and ``<metric>_ci_high`` (percentile bootstrap over the S samples, seeded by ``seed``;
    NaN correlations of constant samples are left out), and ``n_samples``.
    """
    estimate, exact = np.asarray(estimate, np.float64), np.asarray(exact, np.float64)
    if estimate.shape != exact.shape or estimate.ndim != 3 or exact.shape[1] != len(labels):
        raise ValueError(f"estimate {list(estimate.shape)} and exact {list(exact.shape)} must both be [n, S={len(labels)}, m]")
    cols = np.arange(len(labels))
    est, ex = estimate[:, cols, labels], exact[:, cols, labels]  # [n, S]
    pear = [pearsonr(est[:, s], ex[:, s])[0] for s in cols]
    spear = [spearmanr(est[:, s], ex[:, s])[0] for s in cols]
    rel = np.linalg.norm(est - ex, axis=0) / np.maximum(np.linalg.norm(ex, axis=0), 1e-12)
    out: dict[str, float] = {}
    for name, per_sample in (("pearson", pear), ("spearman", spear), ("rel_l2", rel)):
        mean, low, high = bootstrap_ci(np.asarray(per_sample, float), seed=seed)
        out |= {name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high}
    return out | {"n_samples": len(labels)}
