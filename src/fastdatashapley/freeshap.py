"""FreeShap (Wang et al. 2024): fine-tuning-free data valuation with the empirical NTK.

The trained service model is linearised once: its empirical neural tangent kernel (eNTK) replaces
retraining, and the utility of a training subset S becomes kernel ridge regression (KRR) on S.

Choices made here (all documented where they are implemented):

* **Kernel reduction.** :func:`empirical_ntk` returns by default the *trace* eNTK,
  ``K(a, b) = sum_c sum_params dz_c(a)/dtheta . dz_c(b)/dtheta`` over the m logits z. It is one scalar
  kernel shared by all classes, so a single ``[n, n]`` system serves every one-vs-rest regression, and
  the incremental Cholesky of TMC is shared by all classes and test points. The full logit-vector eNTK
  is ``[A, B, m, m]`` (m^2 times the memory and m separate systems); for a network ending in a linear
  layer the per-logit kernels share the last-layer term ``h(a).h(b) + 1`` and differ only through each
  class's weight vector in the backbone term, so their sum (the trace) is the usual practical surrogate. ``output=c`` gives the eNTK of logit c alone, for callers who want per-class kernels.
* **Kernel normalisation.** Both kernels are divided by the mean diagonal of ``K_train`` before the
  ridge is added (``normalize=True``). KRR with ridge ``r`` on ``K / s`` equals ridge ``r * s`` on ``K``,
  so the ridge is relative to the kernel's scale, and ``1e-6`` bounds the condition number of
  ``K_SS / s + ridge I`` by ``(n + ridge) / ridge``, about ``n * 1e6``, whatever the size of the raw eNTK (which grows with the parameter count).
* **Targets.** One-hot ``{0, 1}`` targets, one regression per class (one-vs-rest). The empty subset
  predicts all-zero scores.
* **Utility per test sample and label** (``utility=``):
  ``"softmax"`` (default) ``softmax(f_S(x) / temperature)_y``, a probability like the project's
  ``softmax(f_{D_s}(x))_y``; the empty subset gives exactly ``1/m`` (the uniform null model).
  ``"correct"``: ``1[y = argmax f_S(x)]`` with ties split evenly (empty subset: ``1/m``).
  ``"score"``: the raw KRR score ``f_S(x)_y`` (empty subset: 0).
* **Global utility**: accuracy over the test set, i.e. the mean of ``"correct"`` at the true labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import scipy.linalg
import torch
from torch.func import functional_call, jacrev, vmap

from . import coalitions as C
from .devices import resolve_device
from .shapley import (check_tmc_args, check_tolerance, permutation_bar, truncation_rule, walk_permutations,
                      with_progress)

__all__ = [
    "empirical_ntk",
    "ntk_kernels",
    "normalize_kernels",
    "KernelRidgeUtility",
    "krr_prefix_scores",
    "FreeShapSettings",
    "freeshap_values",
    "freeshap_values_global",
]

UtilityKind = Literal["softmax", "correct", "score"]
Method = Literal["incremental", "refit"]
_UTILITIES = ("softmax", "correct", "score")
PATIENCE = 5  # truncate once the score stays within tolerance for MORE than this many consecutive steps


# ----------------------------------------------------------------------------------------------------
# Empirical NTK
# ----------------------------------------------------------------------------------------------------


class _Jacobians:
    """Per-sample Jacobians of a model's flattened output w.r.t. its trainable parameters."""

    def __init__(self, model: torch.nn.Module, device: torch.device, output: int | None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.device = device
        self.output = output
        self.params = {k: v.detach().to(device) for k, v in model.named_parameters() if v.requires_grad}
        if not self.params:
            raise ValueError("model has no trainable parameters (requires_grad=True); its NTK is zero")
        self.buffers = {k: v.detach().to(device) for k, v in model.named_buffers()}
        self.dtype = next(iter(self.params.values())).dtype

        def f(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            out = functional_call(self.model, (params, self.buffers), (x.unsqueeze(0),))
            return out.reshape(-1)  # [m]; a scalar-output model gives m = 1

        self._jac = vmap(jacrev(f), in_dims=(None, 0))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x [b, ...]`` -> float64 Jacobian features ``[b, m * P]`` (or ``[b, P]`` for one output)."""
        x = x.to(self.device, self.dtype)
        jac = self._jac(self.params, x)  # name -> [b, m, *param_shape]
        parts = [j.reshape(j.shape[0], j.shape[1], -1) for j in jac.values()]
        feats = torch.cat(parts, dim=2)  # [b, m, P]
        m = feats.shape[1]
        if self.output is not None:
            if not -m <= self.output < m:
                raise ValueError(f"output={self.output} is out of range for a model with {m} outputs")
            feats = feats[:, self.output]
        return feats.reshape(feats.shape[0], -1).to(torch.float64)


def _check_inputs(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape [N, ...] with N >= 1, got {tuple(x.shape)}")
    return x


def _ntk_blocks(
    model: torch.nn.Module,
    x_a: torch.Tensor,
    x_b: torch.Tensor | None,
    *,
    batch_size: int,
    output: int | None,
    device: str | torch.device,
    also_bb: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """K(x_a, x_b) and optionally K(x_b, x_b), with the Jacobians of x_b computed once and kept."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x_a = _check_inputs(x_a, "x_a")
    same = x_b is None or x_b is x_a
    if not same:
        x_b = _check_inputs(x_b, "x_b")
        if x_a.shape[1:] != x_b.shape[1:]:
            raise ValueError(f"x_a and x_b must share their trailing shape, got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
    was_training = model.training
    model.eval()  # dropout off, batch norm on running statistics: the kernel of the deployed function
    try:
        jac = _Jacobians(model, resolve_device(device), output)
        with torch.no_grad():
            src = x_a if same else x_b
            jb = torch.cat([jac.features(src[i : i + batch_size]) for i in range(0, src.shape[0], batch_size)])
            kbb = (jb @ jb.T) if (same or also_bb) else None
            if same:
                kab = kbb
            else:
                kab = torch.cat(
                    [jac.features(x_a[i : i + batch_size]) @ jb.T for i in range(0, x_a.shape[0], batch_size)]
                )
    finally:
        model.train(was_training)
    kab_np = kab.cpu().numpy()
    kbb_np = None if kbb is None else kbb.cpu().numpy()
    if kbb_np is not None:
        kbb_np = 0.5 * (kbb_np + kbb_np.T)  # exact symmetry (the products agree up to rounding)
    if same:
        kab_np = kbb_np
    for name, k in (("K(x_a, x_b)", kab_np), ("K(x_b, x_b)", kbb_np)):
        if k is not None and not np.all(np.isfinite(k)):
            raise ValueError(f"empirical NTK {name} has non-finite entries; check the model's outputs")
    return kab_np, kbb_np


def empirical_ntk(
    model: torch.nn.Module,
    x_a: torch.Tensor,
    x_b: torch.Tensor | None = None,
    *,
    batch_size: int = 64,
    output: int | None = None,
    device: str | torch.device = "auto",
) -> np.ndarray:
    """Empirical NTK ``K(a, b) = sum_params J(a) . J(b)`` of ``model`` -> ``[A, B]`` float64.

    ``x_a [A, ...]`` and ``x_b [B, ...]`` are inputs (one sample each, without the batch axis, is what
    the model sees per row; the model is called on ``x[None]``). ``x_b=None`` means ``x_b = x_a`` and
    returns an exactly symmetric matrix. J is the Jacobian of the flattened model output w.r.t. every
    parameter with ``requires_grad``; ``output=None`` sums over the m outputs (the trace eNTK), and
    ``output=c`` keeps output c only. The model is evaluated in eval mode (restored afterwards).
    Memory: the Jacobians of ``x_b`` are kept (``B * m * P`` float64), ``x_a`` is streamed in
    ``batch_size`` chunks, so pass the larger set as ``x_a``. Runs on the GPU when ``device="auto"``
    finds one.
    """
    return _ntk_blocks(model, x_a, x_b, batch_size=batch_size, output=output, device=device)[0]


def ntk_kernels(
    model: torch.nn.Module,
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    *,
    batch_size: int = 64,
    output: int | None = None,
    device: str | torch.device = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """``(K_train [n, n], K_test_train [T, n])``, the training Jacobians computed only once."""
    k_test_train, k_train = _ntk_blocks(
        model, x_test, x_train, batch_size=batch_size, output=output, device=device, also_bb=True
    )
    return k_train, k_test_train


# ----------------------------------------------------------------------------------------------------
# Validation and normalisation
# ----------------------------------------------------------------------------------------------------


def _validate(
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
    _check_ridge(ridge)
    return K_train, K_test_train, y


def _check_ridge(ridge: float) -> None:
    if not (isinstance(ridge, (int, float)) and math.isfinite(ridge) and ridge > 0):
        raise ValueError(f"ridge must be a positive finite number, got {ridge!r}")


def normalize_kernels(K_train: np.ndarray, K_test_train: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Divide both kernels by ``s = mean(diag(K_train))`` -> ``(K_train / s, K_test_train / s, s)``."""
    s = float(np.mean(np.diag(K_train)))
    if not s > 0:
        raise ValueError(f"K_train has a non-positive mean diagonal ({s}); it is not a valid kernel")
    return K_train / s, K_test_train / s, s


def _validate_labels_test(y_test: np.ndarray, T: int, n_classes: int) -> np.ndarray:
    y = np.asarray(y_test)
    if y.shape != (T,):
        raise ValueError(f"y_test must have shape [T={T}], got {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y_test must hold integer class labels, got dtype {y.dtype}")
    if (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"y_test labels must lie in [0, n_classes={n_classes}), got range [{y.min()}, {y.max()}]")
    return y.astype(np.int64)


def _scores_to_utility(F: np.ndarray, kind: str, temperature: float) -> np.ndarray:
    """KRR scores ``F [..., m]`` -> per-label utility ``[..., m]`` (see module docstring)."""
    if kind == "score":
        return F.copy()
    if kind == "softmax":
        z = F / temperature
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    top = F == F.max(axis=-1, keepdims=True)  # "correct", ties split evenly
    return top / top.sum(axis=-1, keepdims=True)


def _check_utility(utility: str, temperature: float) -> None:
    if utility not in _UTILITIES:
        raise ValueError(f"utility must be one of {_UTILITIES}, got {utility!r}")
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")


# ----------------------------------------------------------------------------------------------------
# Kernel ridge utility (batched over masks)
# ----------------------------------------------------------------------------------------------------


def _fit_scores(K: np.ndarray, Kx: np.ndarray, Y: np.ndarray, idx: np.ndarray, ridge: float) -> np.ndarray:
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
        K_train, K_test_train, y = _validate(K_train, K_test_train, y_train, n_classes, ridge)
        _check_utility(utility, temperature)
        self.scale = 1.0
        if normalize:
            K_train, K_test_train, self.scale = normalize_kernels(K_train, K_test_train)
        self.K, self.Kx, self.y = K_train, K_test_train, y
        self.n, self.T, self.m = K_train.shape[0], K_test_train.shape[0], int(n_classes)
        self.Y = np.eye(self.m)[y]  # [n, m] one-hot targets
        self.ridge = float(ridge)
        self.utility, self.temperature = utility, float(temperature)
        self.y_test = None if y_test is None else _validate_labels_test(y_test, self.T, self.m)

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
        return _fit_scores(self.K, self.Kx, self.Y, idx, self.ridge)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        """Per-sample utility ``[k, T, m]`` float64 for ``masks [k, n]``."""
        out = _scores_to_utility(self.scores(masks), self.utility, self.temperature)
        if not np.all(np.isfinite(out)):
            raise FloatingPointError("kernel ridge utility produced non-finite values; raise ridge")
        return out

    def accuracy(self, masks: np.ndarray) -> np.ndarray:
        """Test accuracy of the KRR classifier ``[k]`` (ties split evenly; empty mask -> 1/m)."""
        if self.y_test is None:
            raise ValueError("accuracy needs y_test; pass y_test= to KernelRidgeUtility")
        correct = _scores_to_utility(self.scores(masks), "correct", 1.0)
        return correct[:, np.arange(self.T), self.y_test].mean(axis=1)


# ----------------------------------------------------------------------------------------------------
# KRR along a permutation: incremental Cholesky (bordering) versus refitting every prefix
# ----------------------------------------------------------------------------------------------------


class _PrefixKRR:
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
    K, Kx, y = _validate(K_train, K_test_train, y_train, n_classes, ridge)
    if normalize:
        K, Kx, _ = normalize_kernels(K, Kx)
    order = _check_order(order, K.shape[0])
    _check_krr_args(method)
    krr = _PrefixKRR(K, Kx, np.eye(n_classes)[y], order[None], float(ridge), method)
    out = np.zeros((len(order) + 1, Kx.shape[0], n_classes))
    for i in range(len(order)):
        out[i + 1] = krr.step()[0]
    return out


def _check_order(order: np.ndarray, n: int) -> np.ndarray:
    order = np.asarray(order)
    if order.ndim != 1 or order.dtype.kind not in "iu" or len(np.unique(order)) != len(order):
        raise ValueError(f"order must be a 1-D array of distinct int indices, got shape {order.shape}, dtype {order.dtype}")
    if len(order) and (order.min() < 0 or order.max() >= n):
        raise ValueError(f"order indices must lie in [0, n={n})")
    return order.astype(np.int64)


# ----------------------------------------------------------------------------------------------------
# TMC-Shapley over permutations
# ----------------------------------------------------------------------------------------------------


def _permutations(n: int, n_permutations: int, seed: int, permutations: np.ndarray | None) -> np.ndarray:
    if permutations is not None:
        perms = np.asarray(permutations)
        if perms.ndim != 2 or perms.shape[1] != n or perms.dtype.kind not in "iu":
            raise ValueError(f"permutations must be an int array of shape [P, n={n}], got {perms.shape}, {perms.dtype}")
        if not np.all(np.sort(perms, axis=1) == np.arange(n)):
            raise ValueError("every row of permutations must be a permutation of range(n)")
        return perms.astype(np.int64)
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) or n_permutations < 1:
        raise ValueError(f"n_permutations must be a positive int, got {n_permutations!r}")
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(int(n_permutations))])


def _krr_step(krr: _PrefixKRR, value_of: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
    """The ``step`` of :func:`~fastdatashapley.shapley.walk_permutations` over the KRR prefixes ``krr``.

    ``krr`` advances every permutation it holds, truncated or not; once at most half of them are still
    active, it is compacted to the active ones, so truncation saves work as in a one-by-one loop.
    Returns ``step(rows, j) -> value_of(scores)[rows]`` ``[len(rows), *out]``.
    """
    held = np.arange(len(krr.orders))  # the batch rows whose state krr keeps, ascending

    def step(rows: np.ndarray, j: int) -> np.ndarray:
        nonlocal held
        if 2 * len(rows) <= len(held):
            krr.select(np.searchsorted(held, rows))
            held = rows
        cur = value_of(krr.step())
        return cur if len(rows) == len(held) else cur[np.searchsorted(held, rows)]

    return step


@dataclass(frozen=True)
class FreeShapSettings:
    """How :func:`freeshap_values` and :func:`freeshap_values_global` value the training points.

    ridge: the KRR ridge, relative to the mean training diagonal when ``normalize`` (both kernels are then
    divided by it, :func:`normalize_kernels`). utility, temperature: the per-sample utility of
    :class:`KernelRidgeUtility` (the global values ignore them: their utility is the test accuracy).
    truncation, tolerance, patience: with ``truncation``, a permutation stops once its utility has been
    within ``tolerance`` of the full-data utility (sup norm, relative to ``max |v(D)|``) for more than
    ``patience`` consecutive steps; later points get 0 for that permutation. method: ``"incremental"``
    Cholesky (bordering, :class:`_PrefixKRR`) or ``"refit"`` (each prefix solved from scratch, for checking
    and benchmarking). batch_size: permutations advanced together (None: as many as fit in about 256 MB
    of state). progress: a progress bar over the permutations (advanced position by position, on stderr).
    Validated on construction.
    """

    ridge: float = 1e-6
    tolerance: float = 0.01
    truncation: bool = True
    utility: UtilityKind = "softmax"
    temperature: float = 1.0
    normalize: bool = True
    patience: int = PATIENCE
    method: Method = "incremental"
    batch_size: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        _check_ridge(self.ridge)
        _check_utility(self.utility, self.temperature)
        check_tolerance(self.tolerance)
        check_tmc_args(self.patience)
        _check_krr_args(self.method, self.batch_size)


def _tmc(
    K: np.ndarray,
    Kx: np.ndarray,
    Y: np.ndarray,
    perms: np.ndarray,
    value_of: Callable[[np.ndarray], np.ndarray],
    settings: FreeShapSettings,
) -> np.ndarray:
    """Average marginal contributions over ``perms [P, n]``; returns ``[n, *out]`` float64.

    ``value_of`` maps scores ``[P, T, m]`` to utilities ``[P, *out]``. Permutations are walked together in
    batches (:func:`~fastdatashapley.shapley.walk_permutations`, the walk :func:`~fastdatashapley.shapley.tmc`
    uses) with the KRR prefixes as the step (:func:`_krr_step`).
    """
    n, T, m = K.shape[0], Kx.shape[0], Y.shape[1]
    ridge, batch_size = float(settings.ridge), settings.batch_size
    v_empty = value_of(np.zeros((1, T, m)))[0]
    v_full = value_of(_fit_scores(K, Kx, Y, np.arange(n), ridge)[None])[0]
    # sup-norm relative criterion: ||v(S) - v(D)||_inf <= tolerance * ||v(D)||_inf (Ghorbani & Zou for scalars)
    close = truncation_rule(v_full, settings.tolerance) if settings.truncation else None
    if batch_size is None:  # keep the per-permutation state near 256 MB
        per_perm = 8 * n * (n + T + m) + 8 * T * m
        batch_size = max(1, min(len(perms), (256 << 20) // per_perm))
    total = np.zeros((n,) + v_full.shape)
    bar = permutation_bar(len(perms), "freeshap permutations", settings.progress)
    for start in range(0, len(perms), batch_size):
        orders = perms[start : start + batch_size]
        step = _krr_step(_PrefixKRR(K, Kx, Y, orders, ridge, settings.method), value_of)
        walk_permutations(orders, with_progress(step, bar, len(orders) / n), v_empty, close, int(settings.patience),
                          total)
        bar.n = start + len(orders)  # truncation may have ended the walk early
        bar.refresh()
    bar.close()
    values = total / len(perms)
    if not np.all(np.isfinite(values)):
        raise FloatingPointError("FreeShap values are not finite; raise ridge or check the kernels")
    return values


def _check_krr_args(method: str, batch_size: int | None = None) -> None:
    """The KRR walk's own settings: ``method`` and ``batch_size`` (permutations per batch, None: automatic)."""
    if method not in ("incremental", "refit"):
        raise ValueError(f"method must be 'incremental' or 'refit', got {method!r}")
    if batch_size is not None:
        C._check_count(batch_size, "batch_size")


def _setup(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    n_permutations: int,
    seed: int,
    permutations: np.ndarray | None,
    settings: FreeShapSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What both FreeShap scopes start from: validated (and normalised) ``K [n, n]``, ``Kx [T, n]``,
    labels ``y [n]`` and the permutations ``[P, n]`` to walk."""
    if not isinstance(settings, FreeShapSettings):
        raise TypeError(f"settings must be a FreeShapSettings, got {type(settings).__name__}")
    K, Kx, y = _validate(K_train, K_test_train, y_train, n_classes, settings.ridge)
    if settings.normalize:
        K, Kx, _ = normalize_kernels(K, Kx)
    perms = _permutations(K.shape[0], n_permutations, seed, permutations)
    return K, Kx, y, perms


def freeshap_values(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    n_permutations: int,
    *,
    seed: int = 0,
    permutations: np.ndarray | None = None,
    settings: FreeShapSettings = FreeShapSettings(),
) -> np.ndarray:
    """Per-sample FreeShap values ``[n, T, m]`` float64: TMC-Shapley of the KRR utility.

    ``K_train [n, n]``, ``K_test_train [T, n]``, ``y_train [n]`` int labels in [0, n_classes).
    ``values[i, t, c]`` is training point i's value for test point t and label c under the per-sample
    utility of :class:`KernelRidgeUtility` (same ``utility``, ``temperature``, ``normalize``, ``ridge`` as in
    ``settings``, a :class:`FreeShapSettings`). Each of ``n_permutations`` seeded permutations (or the given
    ``permutations [P, n]``; then ``n_permutations`` is ignored) is walked with an incremental Cholesky.
    Truncation (multi-output): a permutation stops once
    ``max_{t,c} |v_S(t,c) - v_D(t,c)| <= tolerance * max_{t,c} |v_D(t,c)|`` has held for more than
    ``patience`` consecutive steps. One truncation decision is shared by all test points and labels,
    because they share the prefix and the factorisation. Without truncation every permutation's marginals
    sum to ``v(D) - v(empty)`` exactly (efficiency).
    """
    K, Kx, y, perms = _setup(K_train, K_test_train, y_train, n_classes, n_permutations, seed, permutations, settings)
    value_of = lambda F: _scores_to_utility(F, settings.utility, settings.temperature)  # noqa: E731
    return _tmc(K, Kx, np.eye(n_classes)[y], perms, value_of, settings)


def freeshap_values_global(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    n_permutations: int,
    *,
    seed: int = 0,
    permutations: np.ndarray | None = None,
    settings: FreeShapSettings = FreeShapSettings(),
) -> np.ndarray:
    """Global-scope FreeShap values ``[n]`` float64 against the KRR test accuracy (ties split evenly).

    ``y_test [T]``: the test labels. Same permutations, truncation (``|acc_S - acc_D| <= tolerance * acc_D``
    for more than ``patience`` steps) and incremental Cholesky as :func:`freeshap_values`; ``settings.utility``
    and ``settings.temperature`` are not used.
    """
    K, Kx, y, perms = _setup(K_train, K_test_train, y_train, n_classes, n_permutations, seed, permutations, settings)
    yt = _validate_labels_test(y_test, Kx.shape[0], n_classes)
    rows = np.arange(Kx.shape[0])
    value_of = lambda F: _scores_to_utility(F, "correct", 1.0)[:, rows, yt].mean(axis=1)  # noqa: E731
    return _tmc(K, Kx, np.eye(n_classes)[y], perms, value_of, settings)
