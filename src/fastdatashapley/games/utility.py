"""The utility contract every estimator consumes, and its checked evaluation.

A *utility* maps ``masks: bool [k, n]`` to ``float [k]`` or ``[k, *out]`` (for example ``[k, P, m]``: the
softmax of a retrained sub-model for P probe points and m labels). Estimators call it through
:func:`evaluate`, in calls of at most ``batch_size`` masks; a utility that returns the wrong shape, NaN or Inf
is an error that names it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..base.checks import check_count

Utility = Callable[[np.ndarray], np.ndarray]
#: A scalar score of utilities: ``values [k, *out] -> [k]`` (e.g. accuracy from softmax).
Score = Callable[[np.ndarray], np.ndarray]


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
    batch_size = check_count(batch_size, "batch_size")
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


def ends(utility: Utility, n: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """v(empty), v(full), each ``[*out]``."""
    both = evaluate(utility, np.array([np.zeros(n, bool), np.ones(n, bool)]), batch_size)
    return both[0], both[1]
