"""The datamodel (Ilyas et al., 2022): per test sample, the ridge regression of its utility on the subset's
indicator, fitted on the ``datamodel`` design's fresh uniform subsets. A reference for the LDS (the field's best
additive predictor at alpha = 1/2), not a Shapley estimator."""

from __future__ import annotations

from ..games import ValuationResult
from ..games.estimators.banzhaf import datamodel_from_samples
from ..games.scorers import PER_SAMPLE
from . import BASELINE, BaselineContext, Method, register

SETTINGS = {
    "ridge": {"type": "number", "minimum": 0, "default": 0.01,
              "description": "ridge penalty relative to S var(s_i) (0: least squares)"},
}


def run(ctx: BaselineContext) -> ValuationResult:
    """Datamodel weights ``[n, T, m]``: one ridge regression per test sample and label, all on one design."""
    masks, utilities = ctx.test_table()
    return ValuationResult(datamodel_from_samples(masks, utilities, ridge=ctx.settings["ridge"]), len(masks),
                           counts={"subsets": len(masks)})


register(Method("datamodel", BASELINE, run, scopes=(PER_SAMPLE,), design="datamodel", settings=SETTINGS,
                description="datamodel regression (a reference for the LDS, not a Shapley value)"))
