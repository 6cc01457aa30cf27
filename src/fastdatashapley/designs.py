"""The coalition-design registry: each design's name, size and sampler.

A design is the list of coalitions (masks ``[S, n]``) that go through the retraining engine into one
utility table. Its rows are drawn from the seed stream ``[seed, crc32(stream key)]``, where the key is the
design's name (or, for a design over a named grouping of the grouping study, the grouping's name), so no
two designs share random numbers. ``budget`` is the default of config key ``coalitions.<name>``; designs
whose size follows from n (``exact``, ``loo``) have none. A new design is one module that calls
:func:`register`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import coalitions as C
from .registry import Registry


@dataclass(frozen=True)
class DesignRequest:
    """What a sampler gets: n training points, ``size`` rows, the seed stream, the groups (group designs)."""

    n: int
    size: int
    seed: list[int]
    groups: list[np.ndarray] | None = None


@dataclass(frozen=True)
class Design:
    """A coalition design.

    ``sample(request) -> (masks [S, n] bool, owner [S] int64)``; ``owner`` names the group whose game a row
    belongs to (GFDS) and is empty otherwise. ``size(n, budget) -> S`` gives the row count from n and the
    configured budget (``None`` when the design has no budget key).
    """

    name: str
    sample: Callable[[DesignRequest], tuple[np.ndarray, np.ndarray]]
    size: Callable[[int, int | None], int]
    budget: int | None = None
    groups: bool = False
    description: str = ""


DESIGNS: Registry[Design] = Registry("coalition design")


def register(design: Design) -> Design:
    """Add ``design`` to :data:`DESIGNS` (its name must be new)."""
    return DESIGNS.register(design)


def seed_stream(seed: int, key: str) -> list[int]:
    """The seed sequence of the design (or grouping) ``key``: ``[seed, crc32(key)]``."""
    return [int(seed), zlib.crc32(key.encode())]


def design_size(name: str, n: int, coalitions: dict) -> int:
    """Rows of design ``name`` for n training points under the config's ``coalitions`` section."""
    design = DESIGNS.get(name)
    return design.size(n, coalitions.get(name) if design.budget is not None else None)


def sample(name: str, n: int, size: int, seed: int, *, stream: str | None = None,
           groups: Sequence[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``[S, n]`` and owners ``[S]`` of design ``name``, seeded by ``[seed, crc32(stream or name)]``."""
    design = DESIGNS.get(name)
    if design.groups and groups is None:
        raise ValueError(f"design {name!r} needs groups")
    request = DesignRequest(n, size, seed_stream(seed, stream or name), [np.asarray(g) for g in groups] if groups else None)
    masks, owner = design.sample(request)
    return np.asarray(masks, bool), np.asarray(owner, np.int64)


_NO_OWNER = np.zeros(0, np.int64)


def _budget(n: int, budget: int | None) -> int:
    return int(budget)  # type: ignore[arg-type]


for _design in (
    Design("kernel", lambda r: (C.kernel_masks(r.n, r.size, paired=True, seed=r.seed), _NO_OWNER), _budget, 2048,
           description="Shapley-kernel coalitions over n players, paired (FDS, AFDS)"),
    Design("gfds", lambda r: C.gfds_masks(r.groups, r.n, r.size, seed=r.seed), _budget, 2048, groups=True,
           description="per-group games over |G_j| + N - 1 players (GFDS)"),
    Design("gfds_plus", lambda r: (C.group_kernel_masks(r.groups, r.n, r.size, seed=r.seed), _NO_OWNER), _budget,
           512, groups=True, description="Shapley-kernel coalitions over the N groups (GFDS+)"),
    Design("exact", lambda r: (C.all_masks(r.n), _NO_OWNER), lambda n, _: 2**n,
           description="all 2^n coalitions (exact ground truth, small n)"),
    Design("loo", lambda r: (C.loo_masks(r.n), _NO_OWNER), lambda n, _: n + 1,
           description="the full set and every leave-one-out set (LOO)"),
):
    register(_design)
