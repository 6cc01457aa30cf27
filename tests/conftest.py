"""Workflow runs shared by several test modules: each is one real snakemake run, made once per session.

Tests read these folders or work on copies of them (:func:`workflow_helpers.copy_run`); none writes into them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import SEEDS_RUN, snakemake, write_config


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory) -> Path:
    """One complete, uninterrupted run of config/ci.yaml with ``--cores 2``."""
    workdir = tmp_path_factory.mktemp("ci")
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return workdir



@pytest.fixture(scope="session")
def noisy_seeds_run(tmp_path_factory) -> Path:
    """ci.yaml with two seeds and 10 % of D's labels flipped, FDS and two baselines in both scopes: the tables over
    seeds (test_seeds_workflow) and the first seed's mislabel table and figure (test_mislabel_workflow)."""
    workdir = tmp_path_factory.mktemp("seeds")
    cfg = write_config(
        workdir / "seeds.yaml", run="ci-seeds", seeds=[0, 3], noise={"fraction": 0.1, "seed": 0},
        explainers={"methods": ["fds"], "max_epochs": 5, "patience": 3},
        baselines={"methods": ["loo", "random"]},
        evaluation={"curve_step": 0.0, "etas": [0.1, 0.2], "lds": {"subsets": 12}, "grouping_study": False},
    )
    targets = [f"{SEEDS_RUN}/tables/{t}_seeds.csv" for t in ("value_loss", "lds")]
    targets += [f"{SEEDS_RUN}/tables/mislabel.csv", f"{SEEDS_RUN}/figures/mislabel.png"]
    proc = snakemake(workdir, *targets, config=cfg)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return workdir
