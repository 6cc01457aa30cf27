"""The coalition-design registry: each design's name, size and sampler.

A design is the list of coalitions (masks ``[S, n]``) that go through the retraining engine into one
utility table. Its rows are drawn from the seed stream ``[seed, crc32(stream key)]``, where the key is the
design's name (or, for a design over a named grouping of the grouping study, the grouping's name), so no
two designs share random numbers. ``budget`` is the default of config key ``coalitions.<name>``; designs
whose size follows from n (``exact``, ``loo``) have none, and a design set from another config section (the
held-out ``lds`` subsets, ``evaluation.lds``) reads its budget and sampler options through ``options``. A new
design is one module that calls :func:`register`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..base.registry import Registry
from . import coalitions as C


@dataclass(frozen=True)
class DesignRequest:
    """What a sampler gets: n training points, ``size`` rows, the seed stream, the groups (group designs) and
    the design's options from the config (``Design.options``)."""

    n: int
    size: int
    seed: list[int]
    groups: list[np.ndarray] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Design:
    """A coalition design.

    ``sample(request) -> (masks [S, n] bool, owner [S] int64)``; ``owner`` names the group whose game a row
    belongs to (GFDS) and is empty otherwise. ``size(n, budget) -> S`` gives the row count from n and the
    configured budget (``None`` when the design has no budget). ``options(config) -> dict`` reads a design
    configured outside ``coalitions`` from the full config: its ``budget`` and the sampler's options. ``reseed`` is
    added to the run's seed for the data order of its sub-models (0: the run's own order; a retest of another
    design's coalitions retrains them in another order).
    """

    name: str
    sample: Callable[[DesignRequest], tuple[np.ndarray, np.ndarray]]
    size: Callable[[int, int | None], int]
    budget: int | None = None
    groups: bool = False
    description: str = ""
    options: Callable[[dict], dict] | None = None
    reseed: int = 0


DESIGNS: Registry[Design] = Registry("coalition design")


def register(design: Design) -> Design:
    """Add ``design`` to :data:`DESIGNS` (its name must be new)."""
    return DESIGNS.register(design)


def seed_stream(seed: int, key: str) -> list[int]:
    """The seed sequence of the design (or grouping) ``key``: ``[seed, crc32(key)]``."""
    return [int(seed), zlib.crc32(key.encode())]


def design_options(name: str, config: dict) -> dict:
    """The sampler options of design ``name`` from the full ``config`` (empty for ``coalitions`` designs)."""
    design = DESIGNS.get(name)
    return {k: v for k, v in design.options(config).items() if k != "budget"} if design.options else {}


def design_size(name: str, n: int, config: dict) -> int:
    """Rows of design ``name`` for n training points under the full ``config`` (its ``coalitions.<name>``
    budget, or the budget its ``options`` read)."""
    design = DESIGNS.get(name)
    if design.options is not None:
        return design.size(n, design.options(config).get("budget"))
    return design.size(n, config.get("coalitions", {}).get(name) if design.budget is not None else None)


def sample(name: str, n: int, size: int, seed: int, *, stream: str | None = None,
           groups: Sequence[np.ndarray] | None = None, options: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``[S, n]`` and owners ``[S]`` of design ``name``, seeded by ``[seed, crc32(stream or name)]``."""
    design = DESIGNS.get(name)
    if design.groups and groups is None:
        raise ValueError(f"design {name!r} needs groups")
    request = DesignRequest(n, size, seed_stream(seed, stream or name),
                            [np.asarray(g) for g in groups] if groups else None, dict(options or {}))
    masks, owner = design.sample(request)
    return np.asarray(masks, bool), np.asarray(owner, np.int64)


_NO_OWNER = np.zeros(0, np.int64)


def _budget(n: int, budget: int | None) -> int:
    return int(budget)  # type: ignore[arg-type]


def _lds_options(config: dict) -> dict:
    lds = config.get("evaluation", {}).get("lds", {})
    return {"budget": lds.get("subsets", 100), "alpha": lds.get("alpha", 0.5)}


def _lds_sample(r: DesignRequest) -> tuple[np.ndarray, np.ndarray]:
    return C.alpha_subsets(r.n, r.size, r.options.get("alpha", 0.5), seed=r.seed), _NO_OWNER


def _lds_retest_sample(r: DesignRequest) -> tuple[np.ndarray, np.ndarray]:
    """The lds design's own subsets (its seed stream, whatever this design's stream is)."""
    return _lds_sample(DesignRequest(r.n, r.size, seed_stream(r.seed[0], "lds"), r.groups, r.options))


def _uniform_sample(r: DesignRequest) -> tuple[np.ndarray, np.ndarray]:
    return C.alpha_subsets(r.n, r.size, 0.5, seed=r.seed), _NO_OWNER


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
    Design("lds", _lds_sample, _budget, options=_lds_options,
           description="held-out random subsets for the LDS (evaluation.lds: each point kept with probability alpha)"),
    Design("lds_retest", _lds_retest_sample, _budget, options=_lds_options, reseed=1,
           description="the lds subsets retrained in another data order (the retraining-noise ceiling of the LDS)"),
    Design("banzhaf", _uniform_sample, _budget, 2048,
           description="uniform random subsets, each point kept with probability 1/2 (Data Banzhaf)"),
    Design("datamodel", _uniform_sample, _budget, 2048,
           description="fresh uniform random subsets for the datamodel regression (alpha = 1/2, the LDS's own law)"),
):
    register(_design)
