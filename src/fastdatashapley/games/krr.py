"""Kernel ridge regression (KRR) on training subsets: FreeShap's fine-tuning-free utility.

With a kernel over the training points (the eNTK, :mod:`~fastdatashapley.games.ntk`), the utility of a subset S
is the KRR fit on S instead of a retrained model.

* **Kernel normalisation.** Both kernels are divided by the mean diagonal of ``K_train`` before the ridge is added
  (``normalize=True``). KRR with ridge ``r`` on ``K / s`` equals ridge ``r * s`` on ``K``, so the ridge is relative
  to the kernel's scale, and ``1e-6`` bounds the condition number of ``K_SS / s + ridge I`` by
  ``(n + ridge) / ridge``, about ``n * 1e6``, whatever the size of the raw eNTK.
* **Targets.** One-hot ``{0, 1}`` targets, one regression per class (one-vs-rest). The empty subset predicts
  all-zero scores.
* **Utility per test sample and label** (``utility=``): ``"softmax"`` (default)
  ``softmax(f_S(x) / temperature)_y``, a probability like the project's ``softmax(f_{D_s}(x))_y``; the empty subset
  gives exactly ``1/m``. ``"correct"``: ``1[y = argmax f_S(x)]`` with ties split evenly (empty subset: ``1/m``).
  ``"score"``: the raw KRR score ``f_S(x)_y`` (empty subset: 0).
* **Global utility**: accuracy over the test set (:func:`~fastdatashapley.games.scorers.accuracy` of the scores).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import scipy.linalg

from .scorers import accuracy, top_share

UtilityKind = Literal["softmax", "correct", "score"]
Method = Literal["incremental", "refit"]
_UTILITIES = ("softmax", "correct", "score")


def validate(
    K_train: np.ndarray, K_test_train: np.ndarray, y_train: np.ndarray, n_classes: int, ridge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    K_train = np.asarray(K_train, dtype=np.float64)
    K_test_train = np.asarray(K_test_train, dtype=np.float64)
    if K_train.ndim != 2 or K_train.shape[0] != K_train.shape[1]:
        raise ValueError(f"K_train must be a square [n, n] matrix, got shape {K_train.shape}")
    n = K_train.shape[0]
    if n == 0:
        raise ValueError("K_train is empty (n = 0)")
    if K_test_train.ndim != 2 or K_test_train.shape[1] != n or K_test_train.shape[0] == 0:
        raise ValueError(f"K_test_train must have shape [T >= 1, n={n}], got {K_test_train.shape}")
    if not (np.all(np.isfinite(K_train)) and np.all(np.isfinite(K_test_train))):
        raise ValueError("K_train and K_test_train must be finite")
    scale = max(float(np.max(np.abs(K_train))), np.finfo(float).tiny)
    if np.max(np.abs(K_train - K_train.T)) > 1e-8 * scale:
        raise ValueError("K_train must be symmetric")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    y = np.asarray(y_train)
    if y.shape != (n,):
        raise ValueError(f"y_train must have shape [n={n}], got {y.shape}")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ValueError(f"y_train must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y_train labels must lie in [0, n_classes={n_classes}), got range [{y.min()}, {y.max()}]")
    check_ridge(ridge)
    return K_train, K_test_train, y


def check_ridge(ridge: float) -> None:
    if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge > 0):
        raise ValueError(f"ridge must be a positive finite number, got {ridge!r}")


def normalize_kernels(K_train: np.ndarray, K_test_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Divide both kernels by ``s = mean(diag(K_train))`` -> ``(K_train / s, K_test_train / s, s)``."""
    s = float(np.mean(np.diag(K_train)))
    if not s > 0:
        raise ValueError(f"K_train has a non-positive mean diagonal ({s}); it is not a valid kernel")
    return K_train / s, K_test_train / s, s


def validate_labels_test(y_test: np.ndarray, T: int, n_classes: int) -> np.ndarray:
    y = np.asarray(y_test)
    if y.shape != (T,):
        raise ValueError(f"y_test must have shape [T={T}], got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y_test must hold integer class labels, got dtype {y.dtype}")
    if (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_test labels must lie in [0, n_classes={n_classes}), got range [{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def scores_to_utility(F: np.ndarray, kind: str, temperature: float) -> np.ndarray:
    """KRR scores ``F [..., m]`` -> per-label utility ``[..., m]`` (see module docstring)."""
    if kind == "score":
        return F.copy()
    if kind == "softmax":
        z = F / temperature
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    return top_share(F)  # "correct", ties split evenly


def check_utility(utility: str, temperature: float) -> None:
    if utility not in _UTILITIES:
        raise ValueError(f"utility must be one of {_UTILITIES}, got {utility!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")


# ---------------------------------------------------------------------------------------------- the utility


def fit_scores(K: np.ndarray, Kx: np.ndarray, Y: np.ndarray, idx: np.ndarray, ridge: float) -> np.ndarray:
    """Scores ``K_xS (K_SS + ridge I)^-1 Y_S`` -> ``[T, m]`` for the non-empty index set ``idx``."""
    A = K[np.ix_(idx, idx)]
    A[np.diag_indices_from(A)] += ridge
    factor = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
    return Kx[:, idx] @ scipy.linalg.cho_solve(factor, Y[idx], check_finite=False)


class KernelRidgeUtility:
    """KRR utility of training subsets, one-vs-rest with one-hot targets.

    For a mask s, ``alpha = (K_SS + ridge I)^-1 Y_S`` and the scores are ``F = K_xS alpha [T, m]``.
    Calling with ``masks [k, n] bool`` returns the per-sample utility ``[k, T, m]`` (every test point,
    every label; see ``utility``); :meth:`accuracy` returns ``[k]`` against ``y_test``. Kernels are
    normalised by the mean training diagonal when ``normalize`` (so ``ridge`` is relative to it).
    Empty mask: scores 0, hence ``1/m`` for ``"softmax"`` and ``"correct"`` and accuracy ``1/m``.
    """

    def __init__(
        self,
        K_train: np.ndarray,
        K_test_train: np.ndarray,
        y_train: np.ndarray,
        n_classes: int,
        ridge: float = 1e-6,
        *,
        y_test: np.ndarray | None = None,
        utility: UtilityKind = "softmax",
        temperature: float = 1.0,
        normalize: bool = True,
    ):
        K_train, K_test_train, y = validate(K_train, K_test_train, y_train, n_classes, ridge)
        check_utility(utility, temperature)
        self.scale = 1.0
        if normalize:
            K_train, K_test_train, self.scale = normalize_kernels(K_train, K_test_train)
        self.K, self.Kx, self.y = K_train, K_test_train, y
        self.n, self.T, self.m = K_train.shape[0], K_test_train.shape[0], int(n_classes)
        self.Y = np.eye(self.m)[y]  # [n, m] one-hot targets
        self.ridge = float(ridge)
        self.utility, self.temperature = utility, float(temperature)
        self.y_test = None if y_test is None else validate_labels_test(y_test, self.T, self.m)

    def _masks(self, masks: np.ndarray) -> np.ndarray:
        masks = np.asarray(masks)
        if masks.ndim != 2 or masks.shape[1] != self.n:
            raise ValueError(f"masks must have shape [k, n={self.n}], got {masks.shape}")
        if masks.dtype != bool:
            if not np.all((masks == 0) | (masks == 1)):
                raise ValueError("masks must be boolean (or 0/1)")
            masks = masks.astype(bool)
        return masks

    def scores(self, masks: np.ndarray) -> np.ndarray:
        """KRR scores ``f_S(x)`` for ``masks [k, n]`` -> ``[k, T, m]`` float64."""
        masks = self._masks(masks)
        out = np.zeros((masks.shape[0], self.T, self.m))
        for i, mask in enumerate(masks):
            idx = np.flatnonzero(mask)
            if idx.size:
                out[i] = self._fit_predict(idx)
        return out

    def _fit_predict(self, idx: np.ndarray) -> np.ndarray:
        return fit_scores(self.K, self.Kx, self.Y, idx, self.ridge)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Per-sample utility ``[k, T, m]`` float64 for ``masks [k, n]``."""
        out = scores_to_utility(self.scores(masks), self.utility, self.temperature)
        if not np.all(np.isfinite(out)):
            raise FloatingPointError("kernel ridge utility produced non-finite values; raise ridge")
        return out

    def accuracy(self, masks: np.ndarray) -> np.ndarray:
        """Test accuracy of the KRR classifier ``[k]`` (ties split evenly; empty mask -> 1/m)."""
        if self.y_test is None:
            raise ValueError("accuracy needs y_test; pass y_test= to KernelRidgeUtility")
        return accuracy(self.scores(masks), self.y_test)


# ---------------------------------------------------------------------------------------------- along a permutation


class PrefixKRR:
    """KRR scores of the growing prefixes of P permutations at once, one position per :meth:`step`.

    ``incremental``: for every permutation, keeps the inverse Cholesky factor ``G = L^-1`` of
    ``A = K_SS + ridge I`` and grows it by bordering. Adding point j with ``k = K_Sj``:
    ``l = G k``, ``d^2 = k_jj + ridge - l.l`` (the Schur complement of A, >= ridge in exact
    arithmetic, so it is clamped there against rounding), ``L' = [[L, 0], [l^T, d]]`` and
    ``G' = [[G, 0], [-l^T G / d, 1 / d]]``. With ``W = K_xS L^-T`` and ``Z = L^-1 Y_S`` the scores are
    ``F = W Z``; adding j appends the column ``w = (K_xj - W l) / d`` to W and the row
    ``z = (y_j - l^T Z) / d`` to Z, so ``F += w z^T``. Cost per step O(s^2 + T s + s m + T m),
    instead of O(s^3 + T s m) for a refit, and no step loops over permutations in Python.
    ``refit``: solves ``(K_SS + ridge I) alpha = Y_S`` from scratch at every step (batched LAPACK
    ``gesv``), the naive baseline.
    """

    def __init__(self, K: np.ndarray, Kx: np.ndarray, Y: np.ndarray, orders: np.ndarray, ridge: float, method: str):
        self.K, self.Kx, self.Y, self.ridge, self.method = K, Kx, Y, ridge, method
        self.diag = np.diag(K).copy()
        self.orders = orders  # [P, n]
        P, n = orders.shape
        T, m = Kx.shape[0], Y.shape[1]
        self.s = 0
        self.F = np.zeros((P, T, m))
        if method == "incremental":
            self.G = np.zeros((P, n, n))  # L^-1, lower triangular, filled up to [s, s]
            self.W = np.zeros((P, n, T))  # rows: columns of K_xS L^-T
            self.Z = np.zeros((P, n, m))  # L^-1 Y_S

    def select(self, keep: np.ndarray) -> None:
        """Keep only the permutations ``keep`` (indices), dropping the others' state."""
        self.orders, self.F = self.orders[keep], self.F[keep]
        if self.method == "incremental":
            self.G, self.W, self.Z = self.G[keep], self.W[keep], self.Z[keep]

    def step(self) -> np.ndarray:
        """Add position s of every permutation; returns the scores ``[P, T, m]`` of the prefixes ``[:s+1]``."""
        s, o = self.s, self.orders
        j = o[:, s]  # [P]
        if self.method == "refit":
            S = o[:, : s + 1]
            A = self.K[S[:, :, None], S[:, None, :]]  # [P, s+1, s+1]
            A[:, np.arange(s + 1), np.arange(s + 1)] += self.ridge
            alpha = np.linalg.solve(A, self.Y[S])  # [P, s+1, m]
            self.F = np.matmul(self.Kx[:, S].transpose(1, 0, 2), alpha)
        else:
            k = self.K[o[:, :s], j[:, None]]  # [P, s]
            G = self.G[:, :s, :s]
            l = np.matmul(G, k[:, :, None])[:, :, 0]  # [P, s]
            d = np.sqrt(np.maximum(self.diag[j] + self.ridge - np.einsum("ps,ps->p", l, l), self.ridge))  # [P]
            w = (self.Kx[:, j].T - np.matmul(l[:, None, :], self.W[:, :s])[:, 0]) / d[:, None]  # [P, T]
            z = (self.Y[j] - np.matmul(l[:, None, :], self.Z[:, :s])[:, 0]) / d[:, None]  # [P, m]
            self.G[:, s, :s] = -np.matmul(l[:, None, :], G)[:, 0] / d[:, None]
            self.G[:, s, s] = 1.0 / d
            self.W[:, s], self.Z[:, s] = w, z
            self.F += w[:, :, None] * z[:, None, :]
        self.s = s + 1
        return self.F


def krr_prefix_scores(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    order: np.ndarray,
    *,
    ridge: float = 1e-6,
    normalize: bool = True,
    method: Method = "incremental",
) -> np.ndarray:
    """KRR scores of every prefix of ``order [L]`` -> ``[L + 1, T, m]`` (row 0: empty set, all zeros)."""
    K, Kx, y = validate(K_train, K_test_train, y_train, n_classes, ridge)
    if normalize:
        K, Kx, _ = normalize_kernels(K, Kx)
    order = _check_order(order, K.shape[0])
    check_method(method)
    krr = PrefixKRR(K, Kx, np.eye(n_classes)[y], order[None], float(ridge), method)
    out = np.zeros((len(order) + 1, Kx.shape[0], n_classes))
    for i in range(len(order)):
        out[i + 1] = krr.step()[0]
    return out


def check_method(method: str) -> None:
    """The KRR prefix ``method``: ``"incremental"`` or ``"refit"``."""
    if method not in ("incremental", "refit"):
        raise ValueError(f"method must be 'incremental' or 'refit', got {method!r}")


def _check_order(order: np.ndarray, n: int) -> np.ndarray:
    order = np.asarray(order)
    if order.ndim != 1 or order.dtype.kind not in "iu" or len(np.unique(order)) != len(order):
        raise ValueError(f"order must be a 1-D array of distinct int indices, got shape {order.shape}, dtype {order.dtype}")
    if len(order) and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order indices must lie in [0, n={n})")
    return order.astype(np.int64)
