"""Input checks shared by the engine and the reference: images, labels, masks and initial weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .spec import TrainerSpec


def _as_numpy(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _check_images(name: str, a: Any, spec: TrainerSpec) -> np.ndarray:
    """Finite float images ``[N, *spec.in_shape]`` -> contiguous float32 numpy (tensors are copied to the CPU)."""
    a = _as_numpy(a)
    if a.ndim != 4 or tuple(a.shape[1:]) != spec.in_shape:
        raise ValueError(
            f"{name} must have shape [N, {', '.join(map(str, spec.in_shape))}] (spec.in_shape), got {list(a.shape)}"
        )
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{name} must be a float array, got dtype {a.dtype}")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _check_data(spec: TrainerSpec, x: Any, y: Any, masks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``x`` float32 ``[n, C, H, W]``, ``y`` int64 ``[n]`` in ``[0, m)`` and ``masks`` bool ``[k, n]``."""
    x = _check_images("x", x, spec)
    y = _as_numpy(y)
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape [{len(x)}] to match x, got {list(y.shape)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if len(y) and (y.min() < 0 or y.max() >= spec.n_classes):
        raise ValueError(f"y holds labels outside [0, {spec.n_classes}) (spec.n_classes)")
    masks = _as_numpy(masks)
    if masks.ndim != 2 or masks.shape[1] != len(x):
        raise ValueError(
            f"masks must have shape [k, {len(x)}] (one column per training point), got {list(masks.shape)}"
        )
    if masks.dtype != np.bool_:
        raise TypeError(f"masks must be a bool array, got dtype {masks.dtype}")
    return x, y.astype(np.int64), masks


def _check_init(spec: TrainerSpec, init: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``init`` as a float32 CPU state dict of ``spec.arch``, keys in the architecture's order."""
    ref = spec.build().state_dict()
    if not isinstance(init, dict) or set(init) != set(ref):
        got = sorted(init) if isinstance(init, dict) else type(init).__name__
        raise ValueError(f"init must be a state dict of arch {spec.arch!r} with keys {sorted(ref)}, got {got}")
    for k, v in ref.items():
        if tuple(init[k].shape) != tuple(v.shape):
            raise ValueError(
                f"init[{k!r}] has shape {list(init[k].shape)}, expected {list(v.shape)} for arch {spec.arch!r}"
            )
    return {k: init[k].detach().to("cpu", torch.float32) for k in ref}
