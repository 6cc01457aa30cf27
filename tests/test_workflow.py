"""End-to-end: real snakemake on config/ci.yaml, bad input, and incremental reruns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import copy_run, dry_run_jobs, snakemake, write_config

from fastdatashapley.base.io import load_npz, load_values, read_json
from fastdatashapley.engine.utility_table import UtilityTable

pytestmark = pytest.mark.slow
RUN = "results/ci"


def test_artifacts(ci_run):
    r = ci_run / RUN
    report = read_json(r / "service_model.json")
    assert 0.5 < report["test_accuracy"] <= 1 and report["n_train"] == 20
    split = load_npz(r / "split.npz")
    assert split["x_train"].shape == (20, 1, 8, 8) and np.array_equal(np.bincount(split["y_train"]), [2] * 10)
    probes = load_npz(r / "probes.npz")
    assert np.bincount(probes["role"]).tolist() == [60, 20, 10]
    table = UtilityTable.load(r / "utility/kernel-full.npz")
    assert table.utilities.shape == (128, 90, 10) and table.masks.shape == (128, 20)
    assert np.allclose(table.utilities.sum(2), 1, atol=1e-5)
    for scope, shape in (("global", (20,)), ("per_sample", (20, 10, 10))):
        values, meta = load_values(r / f"values/{scope}/tmc.npz")
        assert values.shape == shape and meta["retrained"] > 0
    fds, meta = load_values(r / "values/per_sample/fds.npz")
    assert fds.shape == (20, 10, 10) and meta["epochs"] >= 1
    loss = pd.read_csv(r / "tables/value_loss.csv")
    assert list(loss.columns) == ["method", "eta", "mean", "std", "ci_low", "ci_high", "n_test", "p_vs_fds"]
    assert {"fds", "afds", "gfds", "gfds+", "loo/global", "random/per_sample"} <= set(loss["method"])
    assert sorted(loss["eta"].unique()) == [0.01, 0.02, 0.05, 0.1, 0.15, 0.2] and (loss["n_test"] == 10).all()
    assert (loss["ci_low"] <= loss["mean"] + 1e-12).all() and (loss["mean"] <= loss["ci_high"] + 1e-12).all()
    assert loss.loc[loss["method"] == "fds", "p_vs_fds"].isna().all() and loss["p_vs_fds"].notna().sum() > 0
    lds = pd.read_csv(r / "tables/lds.csv")
    assert list(lds.columns) == ["method", "mean", "ci_low", "ci_high", "n_test", "n_undefined"]
    assert len(lds) == len(loss["method"].unique()) + 1 and (lds["n_test"] == 10).all()  # + the noise ceiling
    assert {"noise_ceiling", "datamodel/per_sample", "banzhaf/per_sample", "banzhaf/global", "fast_banzhaf",
            "fds_paper"} <= set(lds["method"])
    ceiling = lds.set_index("method").loc["noise_ceiling"]
    assert 0 < ceiling["ci_low"] <= ceiling["mean"] <= ceiling["ci_high"] <= 1
    retest = UtilityTable.load(r / "utility/lds_retest-full.npz")
    assert np.array_equal(retest.masks, UtilityTable.load(r / "utility/lds-full.npz").masks)
    assert retest.masks.shape == (20, 20) and not np.array_equal(retest.utilities, UtilityTable.load(
        r / "utility/lds-full.npz").utilities)  # the same subsets, retrained in another data order
    cost = pd.read_csv(r / "tables/cost.csv")
    assert (cost["seconds"] > 0).all()
    for fig in ("value_loss", "top10_fds", "top10_gfds+"):
        assert (r / f"figures/{fig}.png").read_bytes()[:4] == b"\x89PNG" and (r / f"figures/{fig}.pdf").exists()
    assert (r / "logs/service_model.log").read_text()
    assert not list(r.rglob(".*.tmp*")) and not [p for p in r.rglob(".*") if p.is_file()]


def test_rerun_is_a_no_op(ci_run):
    proc = snakemake(ci_run, "--dry-run")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr


@pytest.fixture
def edited(ci_run, tmp_path):
    """A copy of the finished run (conftest's ``ci_run``), so that edited configs do not disturb other tests."""
    return copy_run(ci_run, tmp_path / "work")


def test_editing_one_baseline_reruns_only_it_and_downstream(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", baselines={"tmc": {"n_permutations": 12, "batch_permutations": 10}})
    jobs = dry_run_jobs(edited, cfg)
    assert jobs == {"baseline": 2, "removal": 2, "report_tables": 1, "lds_table": 1, "all": 1}, jobs


def test_editing_lds_subsets_reruns_only_the_lds_designs_their_shards_and_table(edited, tmp_path):
    """The held-out subsets and their retest (another data order) follow evaluation.lds; nothing else reruns."""
    cfg = write_config(tmp_path / "c.yaml", evaluation={"lds": {"subsets": 24}})
    jobs = dry_run_jobs(edited, cfg)
    assert jobs == {"design": 2, "shard": 2, "merge": 2, "lds_table": 1, "all": 1}, jobs


def test_a_second_seed_reruns_only_the_seed_dependent_jobs_in_its_own_folder(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", seeds=[0, 1])
    jobs = dry_run_jobs(edited, cfg)
    assert "prepare_data" not in jobs and "top10_grid" not in jobs, jobs  # seed-independent / first seed only
    assert jobs["split"] == 1 and jobs["service_model"] == 1 and jobs["lds_table"] == 1, jobs
    assert jobs["seeds_table"] == 2, jobs  # value_loss_seeds and lds_seeds
    proc = snakemake(edited, "--dry-run", config=cfg)
    assert "results/ci/seeds/1/split.npz" in proc.stdout and "results/ci/tables/lds_seeds.csv" in proc.stdout


def test_editing_the_eta_list_reruns_only_removal_and_report(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", evaluation={"etas": [0.05, 0.1, 0.3]})
    jobs = dry_run_jobs(edited, cfg)
    assert set(jobs) == {"removal", "report_tables", "all"}, jobs


def test_editing_an_explainer_setting_retrains_no_sub_model(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", explainers={"lr": 0.002})
    jobs = dry_run_jobs(edited, cfg)
    # every default explainer: fds, fds_paper, afds, gfds, gfds+ and fast_banzhaf
    assert jobs.get("explainer") == 6 and "shard" not in jobs and "baseline" not in jobs, jobs


def test_an_explainers_own_lr_reruns_only_that_explainer(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", explainers={"lr_by_method": {"fds": 0.002}})
    jobs = dry_run_jobs(edited, cfg)
    assert jobs.get("explainer") == 1 and jobs.get("removal") == 1 and "shard" not in jobs, jobs
    proc = snakemake(edited, "--dry-run", config=cfg)
    assert "results/ci/explainers/fds.pt" in proc.stdout and "explainers/afds.pt" not in proc.stdout


def test_editing_approx_settings_retrains_only_approx_tables(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", approx={"epochs": 3})
    jobs = dry_run_jobs(edited, cfg)
    assert "baseline" not in jobs and jobs.get("explainer") == 3 and "service_model" not in jobs, jobs


def test_a_new_seed_is_a_new_run_of_its_own(edited, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", run="ci-seed1", seeds=[1])
    proc = snakemake(edited, "--dry-run", config=cfg)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0
    assert "results/ci-seed1/" in out and "results/ci/" not in out.replace("results/ci-seed1/", "")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"data": {"dataset": "imagenet"}}, "'imagenet' is not one of"),
        ({"split": {"n_trian": 20}}, "n_trian"),
        ({"service": {"lr": -1}}, "service"),
    ],
)
def test_bad_config_is_rejected_before_any_job(tmp_path, overrides, message):
    proc = snakemake(tmp_path, config=write_config(tmp_path / "bad.yaml", **overrides))
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_malformed_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("split: [unclosed\n")
    proc = snakemake(tmp_path, config=bad)
    assert proc.returncode != 0 and not (tmp_path / "results").exists()


def test_indivisible_n_fails_cleanly(tmp_path):
    proc = snakemake(tmp_path, f"{RUN}/split.npz", config=write_config(tmp_path / "c.yaml", split={"n_train": 25}))
    out = proc.stdout + proc.stderr + "".join(p.read_text() for p in tmp_path.rglob("split.log"))
    assert proc.returncode != 0 and "split.n_train = 25 is not divisible" in out
    assert not (tmp_path / RUN / "split.npz").exists()


def test_missing_data_files_name_the_path(tmp_path):
    cfg = write_config(tmp_path / "c.yaml", data={"dataset": "fashion-mnist", "root": str(tmp_path / "d"), "source_dir": str(tmp_path / "nowhere")})
    proc = snakemake(tmp_path, config=cfg)
    out = proc.stdout + proc.stderr + "".join(p.read_text() for p in tmp_path.rglob("prepare_data.log"))
    assert proc.returncode != 0 and str(tmp_path / "nowhere") in out and "apt-get install dataset-fashion-mnist" in out
    assert not (tmp_path / RUN / "data/manifest.json").exists()


def test_report_is_one_self_contained_html(edited):
    proc = snakemake(edited, "--report", "report.html")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (edited / "report.html").read_text()
    assert "the top eta are removed" in html  # a caption from workflow/report/
    for name in ("value_loss.png", "cost.csv", "value_loss.csv", "top10_fds.png", "value_loss_curve.csv",
                 "lds_samples.csv", "value_loss.provenance.json"):
        assert name in html, name
    assert "base64," in html and "<script src=\"http" not in html  # files embedded, nothing fetched


TOY_BASELINE = '''
"""A toy baseline registered from a test: a point's value is 1 where its label agrees with the label valued."""
import numpy as np

from fastdatashapley.methods import BASELINE, GLOBAL, Method, register


def run(ctx):
    y_train, y_test = ctx.split["y_train"], ctx.split["y_test"]
    agree = (y_train[:, None, None] == np.arange(ctx.n_classes)[None, None, :]).astype(float)  # [n, 1, m]
    if ctx.scope == GLOBAL:
        return (y_train[:, None] == y_test[None, :]).mean(1) * ctx.settings["weight"], 0
    return np.repeat(agree, len(y_test), axis=1) * ctx.settings["weight"], 0


register(Method("label_agreement", BASELINE, run, settings={"weight": {"type": "number", "default": 1.0}}))
'''


def test_a_baseline_registered_in_a_plugin_runs_through_the_workflow(edited, tmp_path):
    """One module plus one registry entry: no .smk file or rule script changes, and a value-loss row appears."""
    plugin = tmp_path / "toy_baseline.py"
    plugin.write_text(TOY_BASELINE)
    methods = ["loo", "tmc", "group_testing", "cs_shapley", "freeshap", "random", "label_agreement"]
    cfg = write_config(tmp_path / "c.yaml", plugins=[str(plugin)], baselines={"methods": methods,
                                                                             "label_agreement": {"weight": 2.0}})
    assert dry_run_jobs(edited, cfg) == {"baseline": 2, "removal": 2, "report_tables": 1, "lds_table": 1, "all": 1}
    proc = snakemake(edited, f"{RUN}/tables/value_loss.csv", config=cfg)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    split = load_npz(edited / RUN / "split.npz")
    values, meta = load_values(edited / RUN / "values/per_sample/label_agreement.npz")
    assert values.shape == (20, 10, 10) and meta["settings"] == {"weight": 2.0}
    assert np.array_equal(values[:, 0, :], 2.0 * (split["y_train"][:, None] == np.arange(10)))
    loss = pd.read_csv(edited / RUN / "tables/value_loss.csv")
    rows = loss[loss["method"].str.startswith("label_agreement/")]
    assert sorted(rows["method"].unique()) == ["label_agreement/global", "label_agreement/per_sample"]
    assert len(rows) == 2 * 6 and (rows["mean"] > 0).all()  # two scopes x the six default etas
    order = list(loss["method"].drop_duplicates())  # registry order: the plugin comes after the built-ins
    assert order.index("label_agreement/global") > order.index("random/global")
