"""Exact Shapley values by full enumeration (n <= 30)."""

from __future__ import annotations

from math import comb

import numpy as np

from ...base.checks import check_n
from .. import coalitions as C
from ..utility import Utility, evaluate


def exact(utility: Utility, n: int, *, batch_size: int = 4096) -> np.ndarray:
    """Exact Shapley values by enumerating all 2^n coalitions in chunks of ``batch_size``: ``[n, *out]``.

    phi_i = sum_S v(S) (w_in(|S|) [i in S] - w_out(|S|) [i not in S]) with w_in(k) = 1 / (n C(n-1, k-1))
    and w_out(k) = 1 / (n C(n-1, k)), which regroups sum_{S not containing i} |S|!(n-|S|-1)!/n!
    (v(S + i) - v(S)). Only one chunk of masks is held at a time; 2^n utility evaluations (n <= 30).
    """
    n = check_n(n)
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
