"""The FDS loss and its parts (paper eq. 4 and 6), shared by training and inference.

For a probe x, a label y and a coalition s (a row of the utility table) the loss is
``(v_{x,y}(s) - v_{x,y}(0) - s^T phi_theta(x, y))^2``, with the additive efficient normalisation
``phi <- phi + (v(1) - v(0) - 1^T phi) / n_out`` applied before the loss and at inference (gradients flow through
it). GFDS+ adds ``gamma * sum_j ||phi_{D_j} - mean(phi_{D_j})||`` (``penalty``), or values groups and splits each
group's value evenly (``split``, :func:`expand`).

The loss over the whole table (:func:`table_loss`) is the same mean over every row at once, computed from the
table's moments (:func:`table_moments`): ``phi^T A phi - 2 b^T phi + c`` per probe and label, with
``A = S^T S / R`` shared by all probes. The Banzhaf loss is the regression on uniform subsets with a free
intercept (Kernel Banzhaf): rows and gains centred over the table, no normalisation (Banzhaf values are not
efficient).
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


def sampled_loss(values: torch.Tensor, s: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Mean over x, coalitions and labels of ``(gain - s^T values)^2``: values ``[B, k, m]``, s ``[B, K, k]``,
    gain ``[B, K, m]`` (:func:`fds_loss` after the normalisation; the Banzhaf loss on centred rows and gains)."""
    return ((gain - torch.einsum("bsk,bkm->bsm", s, values)) ** 2).mean()


def table_moments(s: torch.Tensor, gain: torch.Tensor, *, centre: bool = False,
                  chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The table's moments for :func:`table_loss`: ``A = s^T s / R [k, k]``, ``b = s^T gain / R [P, k, m]`` and
    ``c = mean gain^2 [P, m]`` over the R rows ``s [R, k]`` and ``gain [P, R, m]``; ``centre`` subtracts each
    column's and each probe's mean over the rows first (the Banzhaf regression). Probes in chunks of ``chunk``."""
    if centre:
        s = s - s.mean(0, keepdim=True)
    rows = s.shape[0]
    a = s.T @ s / rows
    b, c = [], []
    for i in range(0, gain.shape[0], chunk):
        g = gain[i : i + chunk]
        if centre:
            g = g - g.mean(1, keepdim=True)
        b.append(torch.einsum("rk,prm->pkm", s, g) / rows)
        c.append((g**2).mean(1))
    return a, torch.cat(b), torch.cat(c)


def table_loss(values: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Mean over probes and labels of the mean over every table row of ``(gain - s^T values)^2``, from the moments
    (:func:`table_moments`): values ``[B, k, m]``, a ``[k, k]``, b ``[B, k, m]``, c ``[B, m]``."""
    quad = (values * torch.einsum("ij,bjm->bim", a, values)).sum(1)
    return (quad - 2 * (b * values).sum(1) + c).mean()
