"""Cooperative games with closed-form Shapley values, as batched utilities ``masks [k, n] -> [k, *out]``."""

from __future__ import annotations

import numpy as np


def additive(weights: np.ndarray, offset: float = 0.0):
    """v(S) = offset + sum_{i in S} w_i (w: [n] or [n, *out]); phi_i = w_i."""
    w = np.asarray(weights, dtype=np.float64)

    def utility(masks):
        return offset + np.tensordot(np.asarray(masks, np.float64), w, axes=1)

    return utility, w


def pairwise(a: np.ndarray, b: np.ndarray):
    """v(S) = sum_{i in S} a_i + sum_{i<j in S} b_ij (b symmetric, zero diagonal); phi_i = a_i + 1/2 sum_j b_ij."""
    b = (b + b.T) / 2
    np.fill_diagonal(b, 0)

    def utility(masks):
        s = np.asarray(masks, np.float64)
        return s @ a + 0.5 * np.einsum("ki,ij,kj->k", s, b, s)

    return utility, a + 0.5 * b.sum(1)


def majority(n: int, quota: int):
    """Symmetric voting: v(S) = 1 if |S| >= quota; phi_i = 1/n."""

    def utility(masks):
        return (np.asarray(masks).sum(1) >= quota).astype(np.float64)

    return utility, np.full(n, 1.0 / n)


def glove(n_left: int, n_right: int):
    """Glove game v(S) = min(#left, #right in S); closed form for one left glove and r right gloves:
    the left glove gets r/(r+1), each right glove 1/(r(r+1))."""
    n = n_left + n_right
    left = np.arange(n) < n_left

    def utility(masks):
        masks = np.asarray(masks, bool)
        return np.minimum(masks[:, left].sum(1), masks[:, ~left].sum(1)).astype(np.float64)

    assert n_left == 1
    r = n_right
    phi = np.full(n, 1.0 / (r * (r + 1)))
    phi[0] = r / (r + 1)
    return utility, phi
