"""Leave-one-out: v(D) - v(D \\ {i}), read from the ``loo`` design's utility table (n + 1 retrained sub-models)."""

from __future__ import annotations

import numpy as np

from ..games import ValuationResult, loo
from . import BASELINE, BaselineContext, Method, register


def run(ctx: BaselineContext) -> ValuationResult:
    """LOO values ``[n]`` (against test accuracy) or ``[n, T, m]`` (per test sample) from the table."""
    from ..engine.utility_table import UtilityTable

    table = UtilityTable.load(ctx.table)
    cols = np.flatnonzero(np.isin(table.probe_ids, ctx.split["idx_test"]))
    lookup, scorer = table.as_utility(), ctx.scorer()
    return ValuationResult(loo(lambda masks: scorer(lookup(masks)[:, cols]), ctx.n), ctx.n + 1)


register(Method("loo", BASELINE, run, design="loo", description="leave-one-out"))
