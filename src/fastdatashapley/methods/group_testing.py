"""Group-testing Shapley (Jia et al. 2019): pairwise differences from kernel-size tests, then a linear program."""

from __future__ import annotations

from ..games import ValuationResult, group_testing
from ..games.limits import MAX_COALITIONS
from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_samples": {"type": "integer", "minimum": 2, "maximum": MAX_COALITIONS, "default": 2048},
    "epsilon": {"type": "number", "minimum": 0, "default": 0.001},
    # No default on purpose: a config without the key keeps its params (and its finished jobs) as they were.
    "solver": {"type": "string", "enum": ["lp", "closed_form"],
               "description": "lp (absent: lp): one HiGHS LP over the n (n - 1) pairwise differences per output "
                              "(per sample: T m of them); closed_form: that LP's unique epsilon = 0 solution "
                              "directly, O(n) memory per output (docs/scale.md)"},
}


def run(ctx: BaselineContext) -> ValuationResult:
    """Group-testing values ``[n]`` or ``[n, T, m]``."""
    engine = ctx.engine()
    engine.progress = True  # a bar per engine call (calls of up to 1024 tests)
    values = group_testing(engine, ctx.n, ctx.settings["n_samples"], epsilon=ctx.settings["epsilon"], seed=ctx.seed,
                           solver=ctx.settings.get("solver", "lp"))
    return ValuationResult(values, engine.retrained, counts={"tests": ctx.settings["n_samples"]})


register(Method("group_testing", BASELINE, run, settings=SETTINGS, description="group-testing Shapley"))
