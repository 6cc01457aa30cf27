"""Accuracy of estimated Shapley values against exact ones (Pearson, Spearman, relative L2 error)."""

from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr


def compare(estimate: np.ndarray, exact: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean over samples of the agreement of each sample's values for its own label.

    estimate, exact: ``[n, S, m]`` (n training points, S samples, m labels); labels ``[S]``.
    Returns ``{pearson, spearman, rel_l2, n_samples}``; rel_l2 = ||est - exact|| / ||exact||.
    """
    estimate, exact = np.asarray(estimate, np.float64), np.asarray(exact, np.float64)
    if estimate.shape != exact.shape or estimate.ndim != 3 or exact.shape[1] != len(labels):
        raise ValueError(f"estimate {list(estimate.shape)} and exact {list(exact.shape)} must both be [n, S={len(labels)}, m]")
    cols = np.arange(len(labels))
    est, ex = estimate[:, cols, labels], exact[:, cols, labels]  # [n, S]
    pear = [pearsonr(est[:, s], ex[:, s])[0] for s in cols]
    spear = [spearmanr(est[:, s], ex[:, s])[0] for s in cols]
    rel = np.linalg.norm(est - ex, axis=0) / np.maximum(np.linalg.norm(ex, axis=0), 1e-12)
    return {"pearson": float(np.nanmean(pear)), "spearman": float(np.nanmean(spear)), "rel_l2": float(rel.mean()), "n_samples": len(labels)}
