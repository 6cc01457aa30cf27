"""The naive one-model reference loop (:func:`train_single`) and single-model prediction (:func:`predict_proba`).

:func:`train_single` uses the same initial weights and data order as the batched engine; the equivalence
tests and the benchmark compare the engine against it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...base.devices import resolve_device
from ...base.predict import PREDICT_CHUNK, predict_chunked
from .checks import _check_data, _check_images, _check_init
from .order import coalition_keys, epoch_orders
from .spec import ADAM_BETAS, ADAM_EPS, TrainerSpec, TrainingDivergedError


def predict_proba(
    spec: TrainerSpec, state: dict[str, torch.Tensor], inputs: np.ndarray, batch: int = PREDICT_CHUNK
) -> np.ndarray:
    """Softmax of the single model ``state`` on ``inputs [B, C, H, W]`` -> float32 ``[B, m]`` (CPU)."""
    inputs = _check_images("inputs", inputs, spec)
    net = spec.build()
    net.load_state_dict(_check_init(spec, state))
    net.eval()
    return predict_chunked(net, inputs, batch=batch)


def _optimizer(spec: TrainerSpec, net: nn.Module) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` or ``SGD`` over ``net``'s parameters, as ``spec`` says."""
    if spec.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=spec.lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                                weight_decay=spec.weight_decay)
    return torch.optim.SGD(net.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)


def train_single(
    spec: TrainerSpec,
    init: dict[str, torch.Tensor],
    x: np.ndarray,
    y: np.ndarray,
    mask: np.ndarray,
    *,
    seed: int,
    on_epoch: Callable[[int, nn.Module], None] | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Naive reference: train one model on the coalition ``mask [n]`` with a plain PyTorch loop.

    x: float32 ``[n, C, H, W]``; y: int64 ``[n]``. Same initial weights and data order as the engine;
    ``on_epoch(epoch, model)`` is called after each epoch. ``device``: where it trains (``"auto"``: CUDA when
    present); on the CPU a non-finite loss is caught at its step, elsewhere at the end of its epoch (checking each
    step would wait for the device). Returns the trained state dict, on the CPU.
    """
    mask = np.asarray(mask)
    x, y, masks = _check_data(spec, x, y, mask.reshape(1, -1) if mask.ndim == 1 else mask)
    if masks.shape[0] != 1:
        raise ValueError(f"mask must have shape [n], got {list(mask.shape)}")
    dev = resolve_device(device)
    net = spec.build()
    net.load_state_dict(_check_init(spec, init))
    net.to(dev)
    opt = _optimizer(spec, net)
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    key = coalition_keys(seed, masks)
    size = int(masks.sum())
    for epoch in range(spec.epochs):
        order = torch.from_numpy(epoch_orders(key, masks, epoch)[0, :size]).to(dev)
        finite = torch.ones((), dtype=torch.bool, device=dev)
        for start in range(0, size, spec.batch_size):
            b = order[start : start + spec.batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(net(xt[b]), yt[b])
            if dev.type == "cpu" and not torch.isfinite(loss):
                raise TrainingDivergedError(f"training diverged (loss {loss.item()}) in epoch {epoch}")
            finite &= torch.isfinite(loss.detach())
            loss.backward()
            opt.step()
        if not bool(finite):
            raise TrainingDivergedError(f"training diverged (a non-finite loss) in epoch {epoch}")
        if on_epoch is not None:
            on_epoch(epoch, net)
    return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
