"""Leave-one-out: v(D) - v(D \\ {i}), read from the ``loo`` design's utility table (n + 1 retrained sub-models)."""

from __future__ import annotations

import numpy as np

from . import BASELINE, GLOBAL, BaselineContext, Method, register


def run(ctx: BaselineContext) -> tuple[np.ndarray, int]:
    """LOO values ``[n]`` (against test accuracy) or ``[n, T, m]`` (per test sample) from the table."""
    from ..baselines import accuracy_from_softmax
    from ..shapley import loo
    from ..utility_table import UtilityTable

    table = UtilityTable.load(ctx.table)
    cols = np.flatnonzero(np.isin(table.probe_ids, ctx.split["idx_test"]))
    lookup = table.as_utility()

    def from_table(masks: np.ndarray) -> np.ndarray:
        u = lookup(masks)[:, cols]
        return accuracy_from_softmax(u, ctx.split["y_test"]) if ctx.scope == GLOBAL else u

    return loo(from_table, ctx.n), ctx.n + 1


register(Method("loo", BASELINE, run, design="loo", description="leave-one-out"))
