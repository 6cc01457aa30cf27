"""An example plugin: a service model outside the fused layer set (a LayerNorm residual block).

Name this file in a config's ``plugins`` and set ``service.arch: residual_mlp``; the engine trains it batched on
the generic ``torch.func`` path (the hand-fused path only stacks plain ``nn.Sequential`` models of
``Conv2d``, ``ReLU``, ``MaxPool2d``, ``Flatten`` and ``Linear``)::

    plugins: [examples/residual_mlp.py]
    service: {arch: residual_mlp}
"""

from __future__ import annotations

import torch
from torch import nn

from fastdatashapley.engine.models import register


class ResidualMLP(nn.Module):
    """``[B, C, H, W]`` -> logits ``[B, m]``: flatten, linear -> ``width``, ReLU, then one residual block
    ``h + linear(ReLU(LayerNorm(h)))``, LayerNorm, linear -> m."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, width: int = 64) -> None:
        super().__init__()
        c, h, w = in_shape
        self.inp = nn.Linear(c * h * w, width)
        self.norm = nn.LayerNorm(width)
        self.hidden = nn.Linear(width, width)
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x.flatten(1)))
        h = h + self.hidden(torch.relu(self.norm(h)))
        return self.out(self.out_norm(h))


register("residual_mlp", ResidualMLP, "MLP with a LayerNorm residual block (an example plugin; generic engine path)")
