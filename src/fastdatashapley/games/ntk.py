"""The empirical neural tangent kernel (eNTK) of a trained network, for FreeShap's kernel-ridge utility.

**Kernel reduction.** :func:`empirical_ntk` returns by default the *trace* eNTK,
``K(a, b) = sum_c sum_params dz_c(a)/dtheta . dz_c(b)/dtheta`` over the m logits z. It is one scalar kernel shared
by all classes, so a single ``[n, n]`` system serves every one-vs-rest regression, and the incremental Cholesky of
the permutation walk is shared by all classes and test points. The full logit-vector eNTK is ``[A, B, m, m]`` (m^2
times the memory and m separate systems); for a network ending in a linear layer the per-logit kernels share the
last-layer term ``h(a).h(b) + 1`` and differ only through each class's weight vector in the backbone term, so their
sum (the trace) is the usual practical surrogate. ``output=c`` gives the eNTK of logit c alone.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, jacrev, vmap

from ..base.devices import resolve_device


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
