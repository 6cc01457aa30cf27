"""The budget study (budget_curve): TMC's permutation count per budget, the LDS curve and its verdicts, the
config checks, the jobs it adds to the DAG, and one small real run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_helpers import ROOT, copy_run, dry_run_jobs, snakemake, write_config

from fastdatashapley.workflow.config_checks import ConfigError, check_config
from fastdatashapley.workflow.config_schema import complete_schema, validate_config
from fastdatashapley.data import POOL, TEST, VALIDATION, probe_test_rows
from fastdatashapley.methods.tmc import permutations_for_budget, untruncated_retrainings
from fastdatashapley.evaluation.budget import CURVE_COLUMNS, BudgetPoint, budget_verdicts, lds_curve
from fastdatashapley.games.coalitions import alpha_subsets
from fastdatashapley.evaluation.tables import write_table
from fastdatashapley.games import Truncation, tmc
from games import additive

SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
ORDER = ("fds", "afds", "gfds", "gfds+", "loo", "tmc", "kernelshap")


# ---- TMC at a budget ----

def test_tmc_permutations_give_the_retrainings_nearest_the_budget():
    assert [permutations_for_budget(b, 100) for b in (512, 2048, 8192)] == [5, 21, 83]
    assert [untruncated_retrainings(p, 100) for p in (5, 21, 83)] == [496, 2080, 8218]
    for n in (2, 3, 20, 100):
        for budget in range(1, 400):
            got = untruncated_retrainings(permutations_for_budget(budget, n), n)
            best = min(abs(untruncated_retrainings(p, n) - budget) for p in range(1, budget + 2))
            assert abs(got - budget) == best, (n, budget)
    with pytest.raises(ValueError, match="n >= 2"):
        permutations_for_budget(10, 1)


def test_untruncated_retrainings_count_what_an_untruncated_walk_evaluates():
    n, p = 7, 4
    utility, _ = additive(np.random.default_rng(0).normal(size=(n, 3)))
    _, (done, evaluations) = tmc(utility, n, p, truncation=Truncation(0), return_count=True)
    # evaluations include v(0), the null model, which no engine retrains (it counts only non-empty masks)
    assert done == p and evaluations - 1 == untruncated_retrainings(p, n) == 1 + p * (n - 1)


# ---- the LDS curve and its verdicts ----

def _additive_points(n=12, t=20, m=3, seed=0):
    """An additive game per (sample, label), its held-out table slice and points of decreasing accuracy."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, t, m))
    masks = alpha_subsets(n, 60, 0.5, seed=seed)
    utility, exact = additive(w)
    null = rng.normal(size=(t, m))
    labels = rng.integers(0, m, size=t)
    noise = rng.normal(size=(n, t, m))
    points = [BudgetPoint("tmc/per_sample", b, b + 1, exact + s * noise) for b, s in ((64, 3.0), (16, 30.0))]
    points += [BudgetPoint("fds", b, b + 1, exact if b == 64 else exact + 0.5 * noise) for b in (16, 64)]
    return points, labels, masks, null + utility(masks), null


def test_lds_curve_scores_every_point_in_method_and_budget_order():
    points, labels, masks, utilities, null = _additive_points()
    frame = lds_curve(points, labels, masks, utilities, null, order=ORDER, seed=1)
    assert tuple(frame.columns) == CURVE_COLUMNS
    assert list(zip(frame["method"], frame["budget"])) == [("fds", 16), ("fds", 64), ("tmc/per_sample", 16),
                                                            ("tmc/per_sample", 64)]
    fds_64 = frame.iloc[1]
    assert fds_64["mean"] == pytest.approx(1.0) and fds_64["retrainings"] == 65 and fds_64["n_test"] == 20
    assert (frame["ci_low"] <= frame["mean"]).all() and (frame["mean"] <= frame["ci_high"]).all()
    assert frame["mean"].between(-1, 1).all() and (frame["n_undefined"] == 0).all()
    tmc_rows = frame[frame["method"] == "tmc/per_sample"].set_index("budget")["mean"]
    assert tmc_rows[64] > tmc_rows[16]  # less noise, higher LDS
    with pytest.raises(ValueError, match="no budget points"):
        lds_curve([], labels, masks, utilities, null)


def _frame(rows):
    return pd.DataFrame([dict(zip(CURVE_COLUMNS, (*r, 10, 0))) for r in rows], columns=list(CURVE_COLUMNS))


def test_budget_verdicts_name_the_leader_and_whether_the_intervals_settle_it():
    frame = _frame([
        ("fds", 512, 513, 0.30, 0.25, 0.35), ("tmc/per_sample", 512, 496, 0.50, 0.45, 0.55),
        ("fds", 2048, 2049, 0.52, 0.40, 0.60), ("tmc/per_sample", 2048, 2080, 0.55, 0.50, 0.61),
        ("kernelshap/per_sample", 2048, 2049, np.nan, np.nan, np.nan),
    ])
    lines = budget_verdicts(frame)
    assert len(lines) == 2 and lines[0].startswith("budget 512: the most accurate is tmc/per_sample (LDS 0.500")
    assert "ahead of fds (LDS 0.300" in lines[0] and "496 retrainings" in lines[0] and "disjoint" in lines[0]
    assert lines[1].startswith("budget 2048: the most accurate is tmc/per_sample") and "overlap" in lines[1]
    assert "no LDS for kernelshap/per_sample" in lines[1]
    single = budget_verdicts(_frame([("fds", 64, 65, 0.2, 0.1, 0.3)]))
    assert single == ["budget 64: only fds (LDS 0.200, 95 % CI [0.100, 0.300], 65 retrainings) is scored."]
    with pytest.raises(ValueError, match="lacks the columns"):
        budget_verdicts(frame.drop(columns="retrainings"))


def test_markdown_tables_end_with_their_notes(tmp_path):
    frame = _frame([("fds", 64, 65, 0.2, 0.1, 0.3)])
    write_table(frame, tmp_path / "t.csv", tmp_path / "t.md", notes=["first", "second"])
    md = (tmp_path / "t.md").read_text()
    assert md.endswith("| 0 |\n\n- first\n- second\n")
    write_table(frame, tmp_path / "u.csv", tmp_path / "u.md")
    assert (tmp_path / "u.md").read_text().endswith("| 0 |\n")
    assert pd.read_csv(tmp_path / "t.csv").equals(pd.read_csv(tmp_path / "u.csv"))


def test_probe_test_rows_are_the_split_test_samples_in_order():
    probes = {"role": np.array([POOL, TEST, VALIDATION, TEST, POOL]), "idx": np.array([9, 4, 8, 2, 7])}
    assert probe_test_rows(probes, np.array([4, 2])).tolist() == [1, 3]
    with pytest.raises(ValueError, match="probes.npz: its test probes"):
        probe_test_rows(probes, np.array([2, 4]), "probes.npz")


# ---- config ----

def _validated(**study):
    config = {"budget_curve": study} if study else {}
    validate_config(config, complete_schema(SCHEMA))
    return config


def test_the_study_is_off_by_default_and_its_keys_are_checked():
    assert _validated()["budget_curve"] == {"budgets": [], "methods": ["fds", "kernelshap", "tmc", "gfds+"]}
    for bad, key in (({"budgets": [64, 64]}, "uniqueItems"), ({"budgets": [1]}, "minimum"),
                     ({"methods": ["afds"]}, "enum"), ({"methods": []}, "minItems"), ({"budget": [64]}, "unknown")):
        with pytest.raises(ConfigError, match=key):
            _validated(**bad)


def test_budgets_below_n_are_rejected_only_for_kernelshap():
    config = _validated(budgets=[16, 64])  # split.n_train defaults to 100
    with pytest.raises(ConfigError, match=r"budget_curve.budgets = \[16, 64\] are below split.n_train = 100"):
        check_config(config, check_device=False)
    check_config(_validated(budgets=[16, 64], methods=["fds", "tmc"]), check_device=False)


# ---- the workflow ----

STUDY_RULES = ("budget_design", "budget_shard", "budget_merge", "budget_explainer", "budget_kernelshap", "budget_tmc",
               "budget_curve")


@pytest.mark.slow
def test_the_study_adds_its_jobs_only_when_budgets_are_set(tmp_path):
    off = dry_run_jobs(tmp_path / "off", ROOT / "config" / "ci.yaml")
    assert not set(off) & set(STUDY_RULES), off
    # ci: kernel 128 and gfds_plus 32 rows, so fds at 128 and gfds+ at 32 are the main run's explainers
    on = dry_run_jobs(tmp_path / "on", write_config(tmp_path / "c.yaml", budget_curve={"budgets": [32, 128]}))
    study = {rule: count for rule, count in on.items() if rule in STUDY_RULES}
    assert study == {"budget_design": 2, "budget_shard": 3, "budget_merge": 2, "budget_explainer": 2,
                     "budget_kernelshap": 2, "budget_tmc": 2, "budget_curve": 1}, on
    assert {rule: count for rule, count in on.items() if rule not in STUDY_RULES} == off


@pytest.mark.slow
def test_a_small_budget_curve_run(ci_run, tmp_path):
    """The study added to a finished ci run (a copy of conftest's): it runs its own jobs only."""
    budgets, n = [32, 64], 20
    work = copy_run(ci_run, tmp_path / "work")
    cfg = write_config(tmp_path / "c.yaml", budget_curve={"budgets": budgets})
    assert set(dry_run_jobs(work, cfg)) == {*STUDY_RULES, "all"}  # the main run's jobs are up to date
    target = "results/ci/tables/budget_curve.csv"
    proc = snakemake(work, target, config=cfg)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    r = work / "results" / "ci"
    frame = pd.read_csv(r / "tables" / "budget_curve.csv")
    assert tuple(frame.columns) == CURVE_COLUMNS
    methods = ["fds", "gfds+", "tmc/per_sample", "kernelshap/per_sample"]
    assert sorted(zip(frame["method"], frame["budget"])) == sorted((m, b) for m in methods for b in budgets)
    assert (abs(frame["retrainings"] - frame["budget"]) <= n / 2).all(), frame
    assert frame["mean"].between(-1, 1).all() and (frame["n_test"] == 10).all(), frame
    tmc_rows = frame[frame["method"] == "tmc/per_sample"]
    assert tmc_rows["retrainings"].tolist() == [untruncated_retrainings(permutations_for_budget(b, n), n)
                                                for b in tmc_rows["budget"]]
    md = (r / "tables" / "budget_curve.md").read_text()
    assert all(f"- budget {b}: the most accurate is " in md for b in budgets), md
    for ext in ("png", "pdf"):
        assert (r / "figures" / f"budget_curve.{ext}").stat().st_size > 1000
    # gfds+ at 32 rows is the main run's explainer (ci: gfds_plus 32); the others are the study's own
    assert (r / "values" / "per_sample" / "gfds+.npz").exists()
    explainers = {b: sorted(p.name for p in (r / "budget" / str(b) / "explainers").iterdir()) for b in budgets}
    assert explainers == {32: ["fds.pt"], 64: ["fds.pt", "gfds+.pt"]}
