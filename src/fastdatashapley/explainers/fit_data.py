"""A utility table prepared for one explainer fit: tensors over the probes it reads, and what its loss needs.

:func:`prepare` turns the table into the gains v(s) - v(0) of the pool and validation probes, the coalitions over
the explainer's players (points, or groups for GFDS+ split), centred for the Banzhaf regression, and, for the
``table`` loss, the table's moments (:func:`~fastdatashapley.explainers.loss.table_moments`).
:func:`point_features` describes each training point for a two-tower head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data import POOL, VALIDATION
from ..games.grouping import penultimate
from .loss import table_moments
from .model import BANZHAF


@dataclass
class FitData:
    """A table prepared for one fit: tensors over the pool and validation probes it reads."""

    x: torch.Tensor  # [P', C, H, W] the pool probes, then the validation probes
    gain: torch.Tensor  # [P', S, m] v(s) - v(0) (Banzhaf: centred over the rows)
    total: torch.Tensor  # [P', m] v(1) - v(0)
    s: torch.Tensor  # [S, k] coalitions over the k outputs (n points, or N groups for GFDS+ split; Banzhaf: centred)
    pool: np.ndarray  # positions of the pool probes in x
    val: np.ndarray  # positions of the validation probes in x
    pen_groups: list[torch.Tensor]  # GFDS+ penalty groups (empty otherwise)
    value: str  # what the outputs are: shapley (efficient, normalised) or banzhaf
    moments: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # table loss: A [k, k], b [P', k, m], c [P', m]


def table_name(table: Any) -> str:
    return f"utility table {table.source}" if getattr(table, "source", None) else "the utility table"


def _group_masks(table, groups: list[np.ndarray]) -> np.ndarray:
    """GFDS+ split: the table's coalitions as group indicators ``[S, N]``; error if a coalition splits a group."""
    first = np.array([g[0] for g in groups])
    owner = np.empty(table.n, np.int64)
    for j, g in enumerate(groups):
        owner[g] = j
    if not np.array_equal(table.masks, table.masks[:, first][:, owner]):
        raise ValueError(f"{table_name(table)} is not a group-coalition design for these groups (a coalition "
                         "splits a group); GFDS+ split needs the gfds_plus design")
    return table.masks[:, first]


def prepare(table, x_probe: np.ndarray, role: np.ndarray, group_players: bool, groups: list[np.ndarray] | None,
            settings: Any, dev: torch.device, value: str) -> FitData:
    """The table's utilities over the pool and validation probes as tensors on ``dev``."""
    split = group_players and settings.variant == "split"
    masks = _group_masks(table, groups) if split else table.masks
    pool, val = np.flatnonzero(role == POOL), np.flatnonzero(role == VALIDATION)
    used = np.concatenate([pool, val])  # probes this fit reads, in this order
    gain = torch.from_numpy(np.ascontiguousarray((table.utilities[:, used] - table.null[None, used]).transpose(1, 0, 2)))
    s = torch.from_numpy(masks.astype(np.float32))
    moments = table_moments(s, gain, centre=value == BANZHAF) if settings.loss == "table" else None
    if value == BANZHAF:  # the regression with a free intercept: rows and gains centred over the table
        s, gain = s - s.mean(0, keepdim=True), gain - gain.mean(1, keepdim=True)
    pen = group_players and not split
    return FitData(
        x=torch.from_numpy(x_probe[used]).to(dev),
        gain=gain.to(dev),
        total=torch.from_numpy(table.grand[used] - table.null[used]).to(dev),
        s=s.to(dev),
        pool=np.arange(len(pool)),
        val=np.arange(len(pool), len(used)),
        pen_groups=[torch.from_numpy(g).to(dev) for g in groups] if pen else [],
        value=value,
        moments=None if moments is None else tuple(m.to(dev) for m in moments),
    )


def point_features(service: Any, x_train: np.ndarray, y_train: np.ndarray, n_classes: int,
                   groups: list[np.ndarray] | None = None) -> torch.Tensor:
    """What a two-tower head knows of each player: the service model's embedding of each training point (the input
    of its last layer, standardised per dimension) and its one-hot label scaled to the same norm, ``[n, D + m]``
    float32; for groups as players (``groups``), each group's mean ``[N, D + m]``."""
    emb = penultimate(service, x_train)
    emb = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)
    onehot = np.eye(n_classes)[y_train] * np.sqrt(emb.shape[1] / 2.0)
    feats = np.concatenate([emb, onehot], axis=1)
    if groups is not None:
        feats = np.stack([feats[g].mean(0) for g in groups])
    return torch.from_numpy(feats.astype(np.float32))
