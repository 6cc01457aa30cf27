"""CS-Shapley (Schoch et al. 2022): class-wise games with sampled out-of-class contexts.

A point of class c is valued in the class-wise game whose players are the class-c training points, with
out-of-class training contexts sampled uniformly (:func:`~fastdatashapley.games.class_wise`). In the global scope
the utility of a coalition S_in (with context S_out) is a_in * exp(a_out), where a_in (a_out) counts the evaluation
samples of class c (of other classes) that the model trained on S_in + S_out classifies correctly, divided by the
evaluation-set size. In the per-sample scope the evaluation set is the single test sample x, so for the label y of
interest the out-of-class evaluation set is empty (a_out = 0, exp(a_out) = 1) and the utility is the softmax
probability of y on x: the same quantity every other per-sample method uses, so the rankings compare like with
like. Values are then normalised per class (global scope, as in the paper: each class's values are rescaled to
sum to that class's share of the grand utility); per-sample values are left unnormalised, since the per-sample
game has no class-wise accuracy to share out.
"""

from __future__ import annotations

import numpy as np

from ..games import ValuationResult, class_wise
from ..games.limits import MAX_PERMUTATIONS
from ..games.scorers import GLOBAL, PER_SAMPLE, correct
from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "n_contexts": {"type": "integer", "minimum": 1, "maximum": MAX_PERMUTATIONS, "default": 4},
    "n_permutations": {"type": "integer", "minimum": 1, "maximum": MAX_PERMUTATIONS, "default": 4},
}


def run(ctx: BaselineContext) -> ValuationResult:
    """CS-Shapley values ``[n]`` (normalised per class) or ``[n, T, m]``."""
    engine = ctx.engine()
    engine.progress = True  # a bar per engine call (one call per class, up to 4096 prefixes)
    y_train, y_test = ctx.split["y_train"], ctx.split["y_test"]

    def classwise_utility(masks: np.ndarray, c: int) -> np.ndarray:
        u = engine.softmax(masks)
        if ctx.scope == PER_SAMPLE:
            return u
        hit = correct(u, y_test)  # [k, T]
        a_in = (hit * (y_test == c)[None, :]).sum(1) / len(y_test)
        a_out = (hit * (y_test != c)[None, :]).sum(1) / len(y_test)
        return a_in * np.exp(a_out)

    values = class_wise(classwise_utility, y_train, ctx.settings["n_contexts"], ctx.settings["n_permutations"],
                        seed=ctx.seed)
    if ctx.scope == GLOBAL:
        values = _normalise_per_class(values, y_train, y_test, correct(engine.softmax(np.ones((1, ctx.n), bool)),
                                                                       y_test)[0])
    return ValuationResult(values, engine.retrained)


def _normalise_per_class(values: np.ndarray, y_train: np.ndarray, y_test: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """Rescale each class's values to sum to its share of the full model's test accuracy.

    ``hit [T]``: the full model's credit on each test sample. A class's share is the credit on the test samples of
    that class, divided by the test-set size. Classes whose values sum to 0 are left as they are.
    """
    out = values.copy()
    for c in np.unique(y_train):
        idx = y_train == c
        share = (hit * (y_test == c)).sum() / len(y_test)
        total = values[idx].sum()
        if abs(total) > 1e-12:
            out[idx] = values[idx] * share / total
    return out


register(Method("cs_shapley", BASELINE, run, settings=SETTINGS, description="class-wise Shapley"))
