"""The FDS loss and its parts (paper eq. 4 and 6), shared by training and inference.

For a probe x, a label y and a coalition s (a row of the utility table) the loss is
``(v_{x,y}(s) - v_{x,y}(0) - s^T phi_theta(x, y))^2``, with the additive efficient normalisation
``phi <- phi + (v(1) - v(0) - 1^T phi) / n_out`` applied before the loss and at inference (gradients flow through
it). GFDS+ adds ``gamma * sum_j ||phi_{D_j} - mean(phi_{D_j})||`` (``penalty``), or values groups and splits each
group's value evenly (``split``, :func:`expand`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def normalise(phi: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Additive efficient normalisation: ``phi [B, k, m]`` shifted so that it sums to ``total [B, m]`` over k."""
    return phi + ((total - phi.sum(1)) / phi.shape[1]).unsqueeze(1)


def fds_loss(phi: torch.Tensor, total: torch.Tensor, s: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Mean over x, coalitions and labels of ``(gain - s^T normalise(phi))^2``.

    phi ``[B, k, m]`` raw net outputs; total ``[B, m]`` = v(1) - v(0); s ``[B, K, k]`` coalitions (0/1, or
    group indicators); gain ``[B, K, m]`` = v(s) - v(0).
    """
    pred = torch.einsum("bsk,bkm->bsm", s, normalise(phi, total))
    return ((gain - pred) ** 2).mean()


def group_penalty(phi: torch.Tensor, groups: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. 6 without gamma: sum_j ||phi_{D_j} - mean(phi_{D_j})||_2 over the members of D_j, for ``phi [B, n, m]``.

    The norm is taken per sample and label, then averaged over both (the loss's expectation over x and y).
    """
    total = phi.new_zeros(())
    for g in groups:
        part = phi[:, g]  # [B, |G|, m]
        total = total + torch.linalg.vector_norm(part - part.mean(1, keepdim=True), dim=1).mean()
    return total


def expand(phi_groups: torch.Tensor, groups: Sequence[np.ndarray], n: int) -> torch.Tensor:
    """GFDS+ split: group values ``[B, N, m]`` -> point values ``[B, n, m]``, phi_i = phi_G / |G|."""
    owner = np.empty(n, dtype=np.int64)
    size = np.empty(n)
    for j, g in enumerate(groups):
        owner[g] = j
        size[g] = len(g)
    return phi_groups[:, torch.from_numpy(owner)] / torch.from_numpy(size).to(phi_groups)[None, :, None]
