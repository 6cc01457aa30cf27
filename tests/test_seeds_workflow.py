"""Several seeds end to end: real snakemake reruns the seed-dependent DAG per seed and aggregates the tables."""

from __future__ import annotations

import pandas as pd
import pytest
from workflow_helpers import snakemake, write_config

pytestmark = pytest.mark.slow
RUN = "results/ci-seeds"


def test_two_seeds_give_their_own_tables_and_an_aggregate_over_seeds(tmp_path):
    cfg = write_config(
        tmp_path / "seeds.yaml", run="ci-seeds", seeds=[0, 3],
        explainers={"methods": ["fds"], "max_epochs": 5, "patience": 3},
        baselines={"methods": ["loo", "random"], "scopes": ["per_sample"]},
        evaluation={"curve_step": 0.0, "etas": [0.1, 0.2], "lds": {"subsets": 12}, "grouping_study": False},
    )
    targets = [f"{RUN}/tables/{t}_seeds.csv" for t in ("value_loss", "lds")]
    proc = snakemake(tmp_path, *targets, config=cfg)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    first, second = (pd.read_csv(tmp_path / d / "tables/lds.csv") for d in (RUN, f"{RUN}/seeds/3"))
    assert list(first["method"]) == list(second["method"]) == ["fds", "loo/per_sample", "random/per_sample",
                                                                "noise_ceiling"]
    assert not first["mean"].equals(second["mean"])  # another split, model and design
    lds = pd.read_csv(tmp_path / RUN / "tables/lds_seeds.csv")
    assert list(lds.columns) == ["method", "mean", "std", "ci_low", "ci_high", "n_seeds"]
    assert (lds["n_seeds"] == 2).all()
    expected = (first.set_index("method")["mean"] + second.set_index("method")["mean"]) / 2
    assert lds.set_index("method")["mean"].to_dict() == pytest.approx(expected.to_dict())
    assert (lds["ci_low"] <= lds["mean"]).all() and (lds["mean"] <= lds["ci_high"]).all()
    loss = pd.read_csv(tmp_path / RUN / "tables/value_loss_seeds.csv")
    assert len(loss) == 3 * 2 and set(loss["eta"]) == {0.1, 0.2} and (loss["n_seeds"] == 2).all()
