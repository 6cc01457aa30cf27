"""Data Banzhaf (Wang and Jia, 2023) by maximum sample reuse, from the ``banzhaf`` design's uniform subsets.

A different value from Shapley's: every subset of the others counts equally, so it is not efficient. It is the
semivalue most robust to retraining noise, and the best additive predictor on uniform subsets, which the LDS scores.
"""

from __future__ import annotations

from ..games import ValuationResult
from ..games.estimators.banzhaf import msr_from_samples
from . import BASELINE, BaselineContext, Method, register


def run(ctx: BaselineContext) -> ValuationResult:
    """Banzhaf MSR values ``[n]`` (against test accuracy) or ``[n, T, m]`` (per test sample) from the table."""
    masks, utilities = ctx.test_table()
    return ValuationResult(msr_from_samples(masks, utilities), len(masks), counts={"subsets": len(masks)})


register(Method("banzhaf", BASELINE, run, design="banzhaf", description="Data Banzhaf (MSR), not a Shapley value"))
