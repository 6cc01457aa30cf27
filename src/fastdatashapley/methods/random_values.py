"""The random-removal reference: i.i.d. standard normal values (chance level of every metric)."""

from __future__ import annotations

import numpy as np

from . import BASELINE, BaselineContext, Method, register


def run(ctx: BaselineContext) -> tuple[np.ndarray, int]:
    """Seeded normal values ``[n]`` or ``[n, T, m]``."""
    from ..baselines import random_values

    return random_values(ctx.n, len(ctx.split["y_test"]), ctx.n_classes, ctx.scope, ctx.seed), 0


register(Method("random", BASELINE, run, description="random values"))
