"""CS-Shapley (Schoch et al. 2022): class-wise games with sampled out-of-class contexts (see ``baselines``)."""

from __future__ import annotations

import numpy as np

from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_contexts": {"type": "integer", "minimum": 1, "default": 4},
    "n_permutations": {"type": "integer", "minimum": 1, "default": 4},
}


def run(ctx: BaselineContext) -> tuple[np.ndarray, int]:
    """CS-Shapley values ``[n]`` (normalised per class) or ``[n, T, m]``."""
    from ..baselines import cs_shapley

    engine = ctx.engine()
    engine.progress = True  # a bar per engine call (one call per class, up to 4096 prefixes)
    values = cs_shapley(engine, ctx.settings["n_contexts"], ctx.settings["n_permutations"], seed=ctx.seed)
    return values, engine.retrained


register(Method("cs_shapley", BASELINE, run, settings=SETTINGS, description="class-wise Shapley"))
