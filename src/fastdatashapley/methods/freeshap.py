"""FreeShap (Wang et al. 2024): TMC over kernel ridge regression on the service model's empirical NTK."""

from __future__ import annotations

import numpy as np

from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_permutations": {"type": "integer", "minimum": 1, "default": 500},
    "ridge": {"type": "number", "exclusiveMinimum": 0, "default": 1.0e-6},
    "tolerance": {"type": "number", "minimum": 0, "default": 0.01},
}


def run(ctx: BaselineContext) -> tuple[np.ndarray, int]:
    """FreeShap values ``[n]`` or ``[n, T, m]``; no sub-model is retrained."""
    from ..baselines import freeshap
    from ..freeshap import FreeShapSettings

    s, cfg = ctx.split, ctx.settings
    settings = FreeShapSettings(ridge=cfg["ridge"], tolerance=cfg["tolerance"], progress=True)
    values = freeshap(ctx.service, s["x_train"], s["y_train"], s["x_test"], s["y_test"], ctx.scope,
                      cfg["n_permutations"], seed=ctx.seed, settings=settings, device=ctx.device)
    return values, 0


register(Method("freeshap", BASELINE, run, settings=SETTINGS, description="FreeShap (NTK kernel ridge)"))
