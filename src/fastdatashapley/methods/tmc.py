"""TMC-DataShapley (Ghorbani & Zou 2019): truncated Monte Carlo over permutations, on the batched engine."""

from __future__ import annotations

from ..games import Truncation, ValuationResult, tmc
from ..games.limits import MAX_COALITIONS, MAX_PERMUTATIONS
from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_permutations": {"type": "integer", "minimum": 1, "maximum": MAX_PERMUTATIONS, "default": 100},
    "tolerance": {"type": "number", "minimum": 0, "default": 0.01},
    "batch_permutations": {"type": "integer", "minimum": 1, "maximum": MAX_PERMUTATIONS, "default": 50},
    # No default on purpose: a config without the key keeps its params (and its finished jobs) as they were.
    "block_positions": {"type": "integer", "minimum": 1, "maximum": MAX_COALITIONS,
                        "description": "prefix positions of the walk retrained per engine call (absent: 1, one "
                                       "position at a time); larger values train block_positions x "
                                       "batch_permutations sub-models together (docs/scale.md)"},
}


def untruncated_retrainings(n_permutations: int, n: int) -> int:
    """Sub-models an untruncated (tolerance 0) walk of ``n_permutations`` permutations over n points retrains:
    v(D) once, then the n - 1 proper non-empty prefixes of each permutation (v(0) is the untrained null model,
    the last prefix is D). Truncation can only lower it."""
    return 1 + int(n_permutations) * (int(n) - 1)


def permutations_for_budget(budget: int, n: int) -> int:
    """The permutation count (at least 1) whose untruncated retrainings (:func:`untruncated_retrainings`) lie
    nearest ``budget``; ties go to the larger count. The count moves in steps of n - 1, so it is within
    (n - 1) / 2 of ``budget`` once ``budget`` >= n."""
    if budget < 1 or n < 2:
        raise ValueError(f"budget must be >= 1 and n >= 2, got budget = {budget}, n = {n}")
    step = n - 1
    return max(1, (2 * (budget - 1) + step) // (2 * step))


def run(ctx: BaselineContext) -> ValuationResult:
    """TMC values ``[n]`` or ``[n, T, m]``; the retraining count is the engine's."""
    cfg, engine = ctx.settings, ctx.engine()
    values, (done, evaluations) = tmc(engine, ctx.n, cfg["n_permutations"], truncation=Truncation(cfg["tolerance"]),
                                      seed=ctx.seed, batch_permutations=cfg["batch_permutations"],
                                      block_positions=cfg.get("block_positions", 1), progress=True, return_count=True)
    return ValuationResult(values, engine.retrained, counts={"permutations": done, "evaluations": evaluations})


register(Method("tmc", BASELINE, run, settings=SETTINGS, description="TMC-DataShapley"))
