"""Several seeds end to end: real snakemake reruns the seed-dependent DAG per seed and aggregates the tables."""

from __future__ import annotations

import pandas as pd
import pytest
from workflow_helpers import SEEDS_RUN as RUN

pytestmark = pytest.mark.slow
METHODS = ["fds", "loo/global", "random/global", "loo/per_sample", "random/per_sample", "noise_ceiling"]  # lds rows;
# value_loss has no noise_ceiling row


def test_two_seeds_give_their_own_tables_and_an_aggregate_over_seeds(noisy_seeds_run):
    first, second = (pd.read_csv(noisy_seeds_run / d / "tables/lds.csv") for d in (RUN, f"{RUN}/seeds/3"))
    assert list(first["method"]) == list(second["method"]) == METHODS
    assert not first["mean"].equals(second["mean"])  # another split, model and design
    lds = pd.read_csv(noisy_seeds_run / RUN / "tables/lds_seeds.csv")
    assert list(lds.columns) == ["method", "mean", "std", "ci_low", "ci_high", "n_seeds"]
    assert (lds["n_seeds"] == 2).all()
    expected = (first.set_index("method")["mean"] + second.set_index("method")["mean"]) / 2
    assert lds.set_index("method")["mean"].to_dict() == pytest.approx(expected.to_dict())
    assert (lds["ci_low"] <= lds["mean"]).all() and (lds["mean"] <= lds["ci_high"]).all()
    loss = pd.read_csv(noisy_seeds_run / RUN / "tables/value_loss_seeds.csv")
    assert len(loss) == (len(METHODS) - 1) * 2 and set(loss["eta"]) == {0.1, 0.2} and (loss["n_seeds"] == 2).all()
