"""Values over groups of points: GFDS+ (groups as players, split evenly) and GFDS (Owen-style per-group games)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import coalitions as C
from ..utility import Utility
from .exact import exact
from .kernel import kernel


def _groups_and_n(groups: Sequence[Sequence[int]]) -> tuple[list[np.ndarray], int]:
    """Validate ``groups`` as a partition of range(n), n = largest index + 1."""
    try:
        sizes = [np.size(g) for g in groups]
        n = 1 + max((int(np.max(g)) for g, k in zip(groups, sizes) if k), default=-1)
    except (TypeError, ValueError):
        raise ValueError("groups must be a sequence of integer index arrays") from None
    groups = C.check_groups(groups, n)
    if len(groups) < 2:
        raise ValueError(f"groups must hold at least 2 groups, got {len(groups)}")
    return groups, n


def group_level(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    n_samples: int | None = None,
    *,
    seed: C.Seed = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS+: the N groups are the players; each group's value is split evenly among its members.

    ``groups`` partition range(n), n = total size. Exact over the groups (2^N evaluations) when
    ``n_samples`` is None, else KernelSHAP with ``n_samples`` group coalitions (seeded), each expanded to
    a data mask (:func:`~fastdatashapley.games.coalitions.expand_groups`). Returns ``[n, *out]`` with
    phi_i = phi_{G_j} / |G_j| for i in G_j.
    """
    groups, n = _groups_and_n(groups)

    def group_utility(group_masks: np.ndarray) -> np.ndarray:
        return utility(C.expand_groups(groups, group_masks, n))

    if n_samples is None:
        phi_groups = exact(group_utility, len(groups), batch_size=batch_size)
    else:
        phi_groups = kernel(group_utility, len(groups), n_samples, seed=seed, batch_size=batch_size)
    phi = np.empty((n, *phi_groups.shape[1:]))
    for j, g in enumerate(groups):
        phi[g] = phi_groups[j] / len(g)
    return phi


def gfds_group(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    j: int,
    n_samples: int | None = None,
    *,
    seed: C.Seed = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS for group ``j``: Shapley values of its members in the game whose players are those members plus
    every other group as one player (|G_j| + N - 1 players, :func:`~fastdatashapley.games.coalitions.gfds_players`).
    Exact when ``n_samples`` is None, else KernelSHAP with ``n_samples`` player coalitions.
    Returns ``[|G_j|, *out]`` in the order of ``groups[j]``.
    """
    groups, n = _groups_and_n(groups)
    players = C.gfds_players(groups, j)

    def player_utility(player_masks: np.ndarray) -> np.ndarray:
        return utility(C.expand_groups(players, player_masks, n))

    m = len(players)
    if n_samples is None:
        phi = exact(player_utility, m, batch_size=batch_size)
    else:
        phi = kernel(player_utility, m, n_samples, seed=seed, batch_size=batch_size)
    return phi[: len(groups[j])]


def gfds(
    utility: Utility,
    groups: Sequence[Sequence[int]],
    n_samples: int | None = None,
    *,
    seed: int = 0,
    batch_size: int = 1024,
) -> np.ndarray:
    """GFDS values of every point: :func:`gfds_group` for each group j (seed ``[seed, j]``): ``[n, *out]``.

    Costs N games of |G_j| + N - 1 players (exact: sum_j 2^(|G_j| + N - 1) evaluations). The values are
    not efficient overall: each group's values sum to that group's value in its own game.
    """
    groups, n = _groups_and_n(groups)
    phi = None
    for j, g in enumerate(groups):
        part = gfds_group(utility, groups, j, n_samples, seed=[seed, j], batch_size=batch_size)
        if phi is None:
            phi = np.empty((n, *part.shape[1:]))
        phi[g] = part
    return phi
