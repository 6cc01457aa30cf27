"""The exact-ground-truth path end to end (config/exact.yaml in miniature): real snakemake enumerates all
2^8 coalitions, writes exact Shapley values and the accuracy table of every explainer and of KernelSHAP."""

from __future__ import annotations

from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import snakemake, write_config

from fastdatashapley.base.io import load_npz, load_values
from fastdatashapley.engine.utility_table import UtilityTable

pytestmark = pytest.mark.slow
N = 8
RUN = "results/ci-exact"


@pytest.fixture(scope="module")
def exact_run(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("exact")
    cfg = write_config(
        work / "exact.yaml",
        run="ci-exact",
        data={"dataset": "digits", "classes": [0, 1]},
        split={"n_train": N, "n_pool": 40, "n_val": 10, "n_test": 4, "pool_correct_only": False},
        grouping={"n_groups": 4},
        coalitions={"shard_size": 128, "kernel": 64, "gfds": 64, "gfds_plus": 14, "exact": True},
        evaluation={"n_seen": 20, "lds": {"subsets": 30}},
    )
    proc = snakemake(work, f"{RUN}/tables/accuracy_vs_exact.csv", f"{RUN}/tables/lds.csv", config=cfg)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    return work / RUN


def shapley_by_formula(table: UtilityTable) -> np.ndarray:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S)), from the table's rows: [n, P, m]."""
    n = table.n
    v = {tuple(mask): u.astype(np.float64) for mask, u in zip(table.masks.tolist(), table.utilities)}
    v[(False,) * n] = table.null.astype(np.float64)
    v[(True,) * n] = table.grand.astype(np.float64)
    phi = np.zeros((n, *table.null.shape))
    for mask, value in v.items():
        for i in np.flatnonzero(mask):
            without = list(mask)
            without[i] = False
            size = sum(without)
            phi[i] += factorial(size) * factorial(n - size - 1) / factorial(n) * (value - v[tuple(without)])
    return phi


def test_exact_values_are_the_shapley_formula_on_the_enumerated_table(exact_run):
    table = UtilityTable.load(exact_run / "utility/exact-full.npz")
    assert table.masks.shape[1] == N and len({tuple(m) for m in table.masks.tolist()}) >= 2**N - 2
    values, meta = load_values(exact_run / "values/exact.npz")
    assert values.shape == (N, len(table.probe_ids), 2) and meta["method"] == "exact"
    assert np.allclose(values, shapley_by_formula(table), atol=1e-6)
    assert np.allclose(values.sum(0), table.grand.astype(np.float64) - table.null, atol=1e-5)  # efficiency


def test_accuracy_table_covers_every_method_and_kernelshap_tracks_the_exact_values(exact_run):
    acc = pd.read_csv(exact_run / "tables/accuracy_vs_exact.csv")
    metrics = [f"{m}{s}" for m in ("pearson", "spearman", "rel_l2") for s in ("", "_ci_low", "_ci_high")]
    assert list(acc.columns) == ["method", "split", *metrics, "n_samples"]
    assert (acc["pearson_ci_low"] <= acc["pearson"] + 1e-12).all() and (acc["pearson"] <= acc["pearson_ci_high"] + 1e-12).all()
    pairs = set(zip(acc["method"], acc["split"]))
    shapley = ("fds", "fds_paper", "afds", "gfds", "gfds+")  # fast_banzhaf values another game
    assert pairs == {(m, s) for m in shapley for s in ("seen", "unseen")} | {("kernelshap", "seen")}
    assert acc[["pearson", "spearman", "rel_l2"]].notna().all().all() and (acc["rel_l2"] >= 0).all()
    assert acc[["pearson", "spearman"]].abs().le(1 + 1e-9).all().all()
    probes = load_npz(exact_run / "probes.npz")
    assert (acc.loc[acc["split"] == "unseen", "n_samples"] == (probes["role"] == 2).sum()).all()
    # 64 sampled coalitions of 256, taken from the same retrained sub-models: KernelSHAP is close to exact.
    ks = acc[acc["method"] == "kernelshap"].iloc[0]
    assert ks["pearson"] > 0.9 and ks["rel_l2"] < 0.5, ks.to_dict()
    assert (exact_run / "figures/accuracy_vs_exact.png").read_bytes()[:4] == b"\x89PNG"


def test_lds_table_scores_the_exact_values_next_to_every_method(exact_run):
    lds = pd.read_csv(exact_run / "tables/lds.csv")
    assert list(lds.columns) == ["method", "mean", "ci_low", "ci_high", "n_test", "n_undefined"]
    assert {"fds", "gfds+", "tmc/per_sample", "random/global", "exact"} <= set(lds["method"])
    table = UtilityTable.load(exact_run / "utility/lds-full.npz")
    assert table.n_coalitions == 30 and table.n == N
    row = lds.set_index("method").loc["exact"]
    assert row["n_test"] == 4 and -1 <= row["ci_low"] <= row["mean"] <= row["ci_high"] <= 1
    assert row["mean"] > lds.set_index("method").loc["random/per_sample", "mean"]
