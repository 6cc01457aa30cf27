"""Leave-one-out values."""

from __future__ import annotations

import numpy as np

from ...base.checks import check_n
from .. import coalitions as C
from ..utility import Utility, evaluate


def loo(utility: Utility, n: int, *, batch_size: int = 1024) -> np.ndarray:
    """Leave-one-out: v(1) - v(1 - e_i), ``[n, *out]``.

    n + 1 utility evaluations on :func:`~fastdatashapley.games.coalitions.loo_masks`.
    """
    n = check_n(n)
    v = evaluate(utility, C.loo_masks(n), batch_size)
    return v[0][None] - v[1:]
