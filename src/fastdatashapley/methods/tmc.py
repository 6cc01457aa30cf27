"""TMC-DataShapley (Ghorbani & Zou 2019): truncated Monte Carlo over permutations, on the batched engine."""

from __future__ import annotations

import numpy as np

from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_permutations": {"type": "integer", "minimum": 1, "default": 100},
    "tolerance": {"type": "number", "minimum": 0, "default": 0.01},
    "batch_permutations": {"type": "integer", "minimum": 1, "default": 50},
}


def run(ctx: BaselineContext) -> tuple[np.ndarray, int]:
    """TMC values ``[n]`` or ``[n, T, m]``; the retraining count is the engine's."""
    from ..shapley import tmc

    cfg, engine = ctx.settings, ctx.engine()
    values = tmc(engine, ctx.n, cfg["n_permutations"], tolerance=cfg["tolerance"], seed=ctx.seed,
                 batch_permutations=cfg["batch_permutations"], progress=True)
    return values, engine.retrained


register(Method("tmc", BASELINE, run, settings=SETTINGS, description="TMC-DataShapley"))
