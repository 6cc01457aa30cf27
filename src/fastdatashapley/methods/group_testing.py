"""Group-testing Shapley (Jia et al. 2019): pairwise differences from kernel-size tests, then a linear program."""

from __future__ import annotations

import numpy as np

from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_samples": {"type": "integer", "minimum": 2, "default": 2048},
    "epsilon": {"type": "number", "minimum": 0, "default": 0.001},
}


def run(ctx: BaselineContext) -> tuple[np.ndarray, int]:
    """Group-testing values ``[n]`` or ``[n, T, m]``."""
    from ..shapley import group_testing

    engine = ctx.engine()
    values = group_testing(engine, ctx.n, ctx.settings["n_samples"], epsilon=ctx.settings["epsilon"], seed=ctx.seed)
    return values, engine.retrained


register(Method("group_testing", BASELINE, run, settings=SETTINGS, description="group-testing Shapley"))
