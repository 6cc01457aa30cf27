"""Value-loss removal experiments (paper section 4, H_eta).

For a test sample x with label y, sort the training points by their value for label y (largest first),
remove the top ``eta`` fraction, retrain from the same initial weights and measure the cross-entropy
``-log softmax(f_{D'}(x))_y``. Larger is better: the removed points mattered for that prediction.
Every removal is one coalition, so all of them go through the batched engine in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine.retrainer import Retrainer

#: The full curve, 0 to 90 % in 5 % steps (paper Figure 4).
CURVE_FRACTIONS = tuple(round(0.05 * i, 2) for i in range(19))


def per_sample_values(values: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Each test sample's values for its own label: ``[n, T, m]`` -> ``[n, T]``; a global ``[n]`` is repeated."""
    values = np.asarray(values, dtype=np.float64)
    y_test = np.asarray(y_test)
    if values.ndim == 1:
        return np.repeat(values[:, None], len(y_test), axis=1)
    if values.ndim != 3 or values.shape[1] != len(y_test):
        raise ValueError(f"values must be [n] or [n, T={len(y_test)}, m], got shape {list(values.shape)}")
    if y_test.min() < 0 or y_test.max() >= values.shape[2]:
        raise ValueError(f"test labels must lie in [0, {values.shape[2]}), got {y_test.min()}..{y_test.max()}")
    return values[:, np.arange(len(y_test)), y_test]


def removal_masks(values: np.ndarray, fractions: tuple[float, ...] | list[float]) -> np.ndarray:
    """Training masks after removing the top fractions: ``values [n, T]`` -> bool ``[T, F, n]``.

    ``round(eta * n)`` points are removed; ties keep the lower index first (stable sort), so the result is
    deterministic.
    """
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or Inf; cannot rank training points")
    n, t = values.shape
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or (fractions < 0).any() or (fractions >= 1).any():
        raise ValueError(f"removal fractions must lie in [0, 1), got {fractions.tolist()}")
    order = np.argsort(-values, axis=0, kind="stable")  # [n, T], most valuable first
    rank = np.empty_like(order)
    rank[order, np.arange(t)[None, :]] = np.arange(n)[:, None]
    removed = np.rint(fractions * n).astype(int)  # [F]
    return rank.T[:, None, :] >= removed[None, :, None]


@dataclass
class ValueLoss:
    """Cross-entropy ``loss [T, F]`` on each test sample after removing each fraction ``fractions [F]``."""

    fractions: np.ndarray
    loss: np.ndarray
    n_retrained: int

    def summary(self) -> list[dict]:
        """Rows ``{eta, mean, std, n_test}`` over test samples, one per fraction."""
        return [
            {"eta": float(f), "mean": float(col.mean()), "std": float(col.std()), "n_test": int(len(col))}
            for f, col in zip(self.fractions, self.loss.T)
        ]


def value_loss(
    retrainer: Retrainer,
    x_test: np.ndarray,
    y_test: np.ndarray,
    values: np.ndarray,
    fractions: tuple[float, ...] | list[float],
    *,
    progress: bool = False,
) -> ValueLoss:
    """Run the removal experiment for one method; ``retrainer`` retrains on what is left of D.

    values: ``[n, T, m]`` per-sample values or ``[n]`` global values; x_test ``[T, C, H, W]``, y_test ``[T]``.
    Identical masks (for example eta = 0, or a global ranking) are retrained once.
    """
    masks = removal_masks(per_sample_values(values, y_test), fractions)  # [T, F, n]
    t, f, n = masks.shape
    unique, inverse = np.unique(masks.reshape(t * f, n), axis=0, return_inverse=True)
    utilities = retrainer.softmax(unique, x_test, progress=progress)
    probs = utilities[inverse.reshape(t, f), np.arange(t)[:, None], np.asarray(y_test)[:, None]]  # [T, F]
    loss = -np.log(np.clip(probs.astype(np.float64), 1e-12, None))
    return ValueLoss(np.asarray(fractions, dtype=np.float64), loss, int(len(unique)))
