"""The one-call API (fastdatashapley.workflow.arrays.fit_explainer_from_arrays) against a real workflow run, and provider payouts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import pytest
from workflow_helpers import snakemake, write_config

from fastdatashapley.base.io import load_npz, load_values
from fastdatashapley.cli import main
from fastdatashapley.data import POOL, VALIDATION
from fastdatashapley.explainers.payout import provider_totals
from fastdatashapley.workflow.arrays import fit_explainer_from_arrays

RUN = "results/ci"
#: The ci config with its kernel design in one engine block (the API trains every row in blocks of 256, as
#: the workflow does; ci.yaml's 64-row shards would cut the design elsewhere) and a short explainer.
SERVICE = {"arch": "digits_cnn", "lr": 0.01, "epochs": 5, "batch_size": 10}
EXPLAINERS = {"methods": ["fds"], "max_epochs": 6, "patience": 3}


@pytest.fixture(scope="module")
def fds_run(tmp_path_factory) -> Path:
    """The ci workflow up to the FDS values: split, probes, service model, kernel table, explainer."""
    work = tmp_path_factory.mktemp("arrays")
    cfg = write_config(work / "c.yaml", coalitions={"shard_size": 256}, explainers=EXPLAINERS)
    proc = snakemake(work, f"{RUN}/values/per_sample/fds.npz", config=cfg)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work / RUN


@pytest.mark.slow
def test_the_one_call_gives_the_workflows_values(fds_run):
    split, probes = load_npz(fds_run / "split.npz"), load_npz(fds_run / "probes.npz")
    role = probes["role"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workflow's jobs train on one thread each (config key threads, default 1)
    try:
        explainer = fit_explainer_from_arrays(
            split["x_train"], split["y_train"], probes["x"][role == POOL], x_val=probes["x"][role == VALIDATION],
            budget=128, service=SERVICE, explainers={k: v for k, v in EXPLAINERS.items() if k != "methods"},
            seed=0, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    workflow, meta = load_values(fds_run / "values/per_sample/fds.npz")
    ours = explainer.values(split["x_test"]).transpose(1, 0, 2)  # [n, T, m]
    assert len(explainer.history) == meta["epochs"]
    np.testing.assert_array_equal(ours, workflow)  # same code, seeds and threads: the same bits


@pytest.fixture(scope="module")
def small_explainer():
    """A short fit on 40 digits with 5 providers."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32), d.target
    providers = np.array(["acme", "bolt", "cargo", "dyn", "echo"])[np.arange(40) % 5]
    return fit_explainer_from_arrays(
        x[:40], y[:40], x[40:80], budget=64, providers=providers, service={"epochs": 3, "lr": 0.01, "batch_size": 10},
        explainers={"max_epochs": 2, "patience": 1}, device="cpu", progress=False), x[100:103, None]


def test_provider_values_sum_their_points_values(small_explainer):
    explainer, x = small_explainer
    assert explainer.providers == ["acme", "bolt", "cargo", "dyn", "echo"]
    points, providers = explainer.values_for(x), explainer.provider_values(x)
    assert providers.shape == (3, 5)
    for j in range(5):
        np.testing.assert_allclose(providers[:, j], points[:, j::5].sum(1), atol=1e-12)
    np.testing.assert_allclose(providers.sum(1), points.sum(1), atol=1e-12)  # efficiency carries over


def test_pay_splits_the_amount_among_providers(small_explainer):
    explainer, x = small_explainer
    shares = explainer.pay(x[0], 100.0, negative="clip")
    assert list(shares) == explainer.providers and min(shares.values()) >= 0
    assert sum(shares.values()) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="one input at a time"):
        explainer.pay(x, 1.0)


def test_the_cli_pays_providers(small_explainer, tmp_path, capsys):
    explainer, x = small_explainer
    explainer.save(tmp_path / "e.pt")
    np.save(tmp_path / "x.npy", x[0])
    assert main(["explain", "--explainer", str(tmp_path / "e.pt"), "--image", str(tmp_path / "x.npy"), "--pay", "100",
                 "--negative", "clip", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["payments"]["providers"] == pytest.approx(explainer.pay(x[0], 100.0, negative="clip"))
    rows = result["providers"]
    assert [r["points"] for r in rows] == [8] * 5 and [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(a["value"] >= b["value"] for a, b in zip(rows, rows[1:]))
    assert main(["explain", "--explainer", str(tmp_path / "e.pt"), "--image", str(tmp_path / "x.npy"), "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "top 3 of 5 providers" in text and rows[0]["provider"] in text
    assert main(["info", "--explainer", str(tmp_path / "e.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["providers"] == 5


def test_gfds_plus_plays_the_providers_given_as_an_array():
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images / 16.0).astype(np.float32), d.target
    owner = np.array(["acme", "bolt", "cargo", "dyn"])[np.arange(40) % 4]
    explainer = fit_explainer_from_arrays(
        x[:40], y[:40], x[40:80], method="gfds+", budget=14, providers=owner,
        service={"epochs": 3, "lr": 0.01, "batch_size": 10}, explainers={"max_epochs": 2, "patience": 1},
        device="cpu", progress=False)
    assert [g.tolist() for g in explainer.groups] == [list(range(j, 40, 4)) for j in range(4)]
    assert explainer.variant == "split" and explainer.net_config["n_out"] == 4  # one output per provider
    values, paid = explainer.values_for(x[100:103, None]), explainer.provider_values(x[100:103, None])
    for j in range(4):  # each provider's value is shared evenly by its points
        np.testing.assert_allclose(values[:, j::4], np.repeat(paid[:, j:j + 1] / 10, 10, axis=1), atol=1e-12)
    assert list(explainer.pay(x[100, None], 10.0)) == ["acme", "bolt", "cargo", "dyn"]


def test_table_rows_are_standardised_as_in_training_and_bad_rows_are_named():
    import pandas as pd

    rng = np.random.default_rng(0)
    raw = rng.normal([5.0, -200.0, 0.01], [1.0, 50.0, 0.001], size=(80, 3))
    mean, std = raw[:40].mean(0), raw[:40].std(0)
    rows = (raw - mean) / std
    explainer = fit_explainer_from_arrays(
        rows[:40], (raw[:40, 0] > 5).astype(int), rows[40:], budget=64,
        service={"arch": "digits_mlp", "epochs": 3, "lr": 0.01, "batch_size": 10},
        explainers={"max_epochs": 2, "patience": 1}, device="cpu", progress=False)
    explainer.meta["features"] = {"names": ["a", "b", "c"], "mean": mean.tolist(), "std": std.tolist()}
    frame = pd.DataFrame(raw[40:43], columns=["a", "b", "c"]).assign(extra="x")[["c", "extra", "a", "b"]]
    x = explainer.table_rows(frame)
    assert x.shape == (3, 1, 1, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], rows[40:43], rtol=1e-6, atol=1e-6)
    assert np.array_equal(explainer.values(x), explainer.values(x[:, 0, 0]))  # rows [B, d] are taken as they are
    assert explainer.pay(x[0, 0, 0], 5.0) == explainer.pay(x[0], 5.0)  # and one row [d]
    for bad, message in [(frame.drop(columns="b"), "t.csv: no column 'b'"),
                         (frame.assign(a=["1", "2", "x"]), "t.csv: column 'a' is not numeric"),
                         (frame.assign(c=[0.0, np.nan, 1.0]), "t.csv: column 'c' is missing or not finite in data row 2"),
                         (frame.iloc[:0], "t.csv: the table has no rows")]:
        with pytest.raises(ValueError, match=message):
            explainer.table_rows(bad, "t.csv")


def test_provider_totals_on_known_values():
    values = np.array([[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 0.0, 2.0]])
    np.testing.assert_array_equal(provider_totals(values, np.array([1, 0, 1, 2]), 4), [[2, 4, 4, 0], [-0.5, 0.5, 2, 0]])
    with pytest.raises(ValueError, match="outside 0..1"):
        provider_totals(values, np.array([0, 1, 2, 0]), 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"y_train": np.zeros(40)}, "one class only"),
    ({"y_train": np.arange(39) % 10}, r"shape \[40\]"),
    ({"x_pool": np.zeros((30, 1, 9, 8), np.float32)}, r"x_pool rows have shape \[1, 9, 8\]"),
    ({"x_train": np.full((40, 1, 8, 8), np.nan, np.float32)}, "x_train holds NaN"),
    ({"providers": ["a"] * 39}, r"one provider per training point: shape \[40\]"),
    ({"method": "tmc"}, "'tmc' is not an explainer"),
    ({"method": "gfds+"}, "needs groups"),
    ({"service": {"arch": "nope"}}, "config key service.arch = 'nope'"),
    ({"explainers": {"lr": 0}}, "config key explainers.lr"),
    ({"budget": 1}, "config key coalitions.kernel"),
])
def test_bad_arrays_and_settings_are_named(kwargs, message):
    args = {"x_train": np.zeros((40, 1, 8, 8), np.float32), "y_train": np.arange(40) % 10,
            "x_pool": np.zeros((30, 1, 8, 8), np.float32)}
    args.update({k: kwargs.pop(k) for k in list(kwargs) if k in args})
    with pytest.raises(ValueError, match=message):
        fit_explainer_from_arrays(**args, **kwargs, progress=False)


def test_the_own_table_benchmark_runs_and_reports_its_figures():
    """benchmarks/own_table.py on a small table (its README figures come from the default n = 1,000)."""
    import subprocess
    import sys

    from workflow_helpers import ROOT

    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks/own_table.py"), "--n", "100", "--budget", "64"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    first, second = proc.stdout.strip().splitlines()
    assert first.startswith("n = 100 rows, 20 providers, budget 64: fit ") and "peak RSS" in first
    assert "values of 100 new rows [B, n, m] = [100, 100, 2]" in second and "of 100" in second
