"""The random-removal reference: i.i.d. standard normal values (chance level of every metric)."""

from __future__ import annotations

import numpy as np

from ..games import ValuationResult
from ..games.scorers import GLOBAL
from . import BASELINE, BaselineContext, Method, register


def run(ctx: BaselineContext) -> ValuationResult:
    """Seeded normal values ``[n]`` or ``[n, T, m]``."""
    rng = np.random.default_rng([ctx.seed, 0xBA5E])
    shape = ctx.n if ctx.scope == GLOBAL else (ctx.n, len(ctx.split["y_test"]), ctx.n_classes)
    return ValuationResult(rng.standard_normal(shape), 0)


register(Method("random", BASELINE, run, description="random values"))
