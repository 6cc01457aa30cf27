"""Floating-point work of training a service model, counted from its layer shapes (for efficiency figures).

Counted: the multiply-accumulates (MACs) of the convolutions and linear layers, one MAC = 2 FLOPs.
Not counted: biases, ReLU, max-pooling, softmax / cross-entropy and the optimiser update (all
elementwise, O(activations) or O(parameters), negligible next to the products for these models).

Per training image and epoch: the forward pass is ``2 * F`` FLOPs (``F`` the forward MACs); the backward
pass is ``2 * F`` for the weight gradients plus ``2 * (F - F_first)`` for the input gradients, where the
first parameterised layer needs none (its input is the data). Total: ``6 * F - 2 * F_first``.
"""

from __future__ import annotations

import torch
from torch import nn


def forward_macs(net: nn.Module, in_shape: tuple[int, int, int]) -> list[int]:
    """MACs of one sample's forward pass through each conv / linear layer of ``net``, in the order they run.

    ``in_shape`` is ``(C, H, W)``. Conv: ``Ho * Wo * O * (C / groups) * kh * kw``; linear: ``in * out`` (per
    position, for inputs with more than one leading axis). Layers are seen by forward hooks, so any module works.
    """
    macs: list[int] = []

    def count(m: nn.Module, args: tuple, out: torch.Tensor) -> None:
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            macs.append(out[0].numel() * (m.in_channels // m.groups) * kh * kw)
        else:
            macs.append(out[0].numel() * m.in_features)

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net(torch.zeros(1, *in_shape))
    finally:
        for h in hooks:
            h.remove()
    return macs


def train_flops_per_image(net: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """FLOPs of one training image in one epoch (forward + backward): ``6 * F - 2 * F_first`` (module docstring)."""
    macs = forward_macs(net, in_shape)
    return 6 * sum(macs) - 2 * (macs[0] if macs else 0)
