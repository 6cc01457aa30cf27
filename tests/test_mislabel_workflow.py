"""End-to-end mislabel detection: the split flips noise.fraction of D's labels, and a small real run of the
workflow writes tables/mislabel.{csv,md} and the detection-curve figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import SEEDS_RUN, snakemake, write_config

from fastdatashapley.data import load_dataset, make_split
from fastdatashapley.base.io import load_npz

pytestmark = pytest.mark.slow
RUN = "results/ci"


@pytest.mark.parametrize("fraction", [0.1, 0.0])
def test_split_flips_the_configured_fraction(tmp_path, fraction):
    cfg = write_config(tmp_path / "c.yaml", split={"n_train": 100}, noise={"fraction": fraction, "seed": 0})
    proc = snakemake(tmp_path, f"{RUN}/split.npz", config=cfg)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    split = load_npz(tmp_path / RUN / "split.npz")
    clean = make_split(load_dataset("digits"), 100, 10, 0, seed=0)  # the seed draws D whatever the noise
    y = load_dataset("digits").y[clean.train]
    assert np.array_equal(split["idx_train"], clean.train) and np.array_equal(split["y_train_clean"], y)
    assert split["y_train_clean"].dtype == split["y_train"].dtype and split["flipped"].dtype == np.int64
    flipped = split["flipped"]
    assert flipped.size == round(fraction * 100)
    assert np.array_equal(np.flatnonzero(split["y_train"] != y), flipped)  # each flipped label changed, no other
    if fraction == 0:
        assert np.array_equal(split["y_train"], y)  # what every method trains on is unchanged
    log = (tmp_path / RUN / "logs/split.log").read_text()
    assert f"noise: {flipped.size} of 100 labels of D flipped" in log


def test_mislabel_table_and_figure(noisy_seeds_run):
    """The first seed's table of conftest's run (noise.fraction 0.1): FDS, LOO and random in both scopes."""
    r = noisy_seeds_run / SEEDS_RUN
    table = pd.read_csv(r / "tables/mislabel.csv")
    assert list(table.columns) == ["method", "auroc", "auroc_ci_low", "auroc_ci_high", "f1_at_k", "n_flipped"]
    assert table["method"].tolist() == ["fds", "loo/global", "random/global", "loo/per_sample", "random/per_sample"]
    assert (table["n_flipped"] == 2).all()  # 0.1 of ci's n = 20
    assert table["auroc"].between(0, 1).all() and table["f1_at_k"].isin([0.0, 0.5, 1.0]).all()
    per_sample = ~table["method"].str.endswith("/global")
    ci = table[per_sample]
    assert ((ci["auroc_ci_low"] <= ci["auroc"]) & (ci["auroc"] <= ci["auroc_ci_high"])).all()
    assert table.loc[~per_sample, ["auroc_ci_low", "auroc_ci_high"]].isna().all().all()
    assert (r / "tables/mislabel.md").read_text().startswith("| method | auroc |")
    for ext in ("png", "pdf"):
        assert (r / f"figures/mislabel.{ext}").stat().st_size > 1000
    assert "explainers scored on 60 pool images" in (r / "logs/mislabel_table.log").read_text()


@pytest.mark.parametrize("fraction", [0.0, 0.1])
def test_rule_all_asks_for_the_table_only_with_noise(tmp_path, fraction):
    cfg = write_config(tmp_path / "c.yaml", noise={"fraction": fraction, "seed": 0})
    proc = snakemake(tmp_path, "--dry-run", config=cfg)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ("rule mislabel_table" in proc.stdout + proc.stderr) == (fraction > 0)
