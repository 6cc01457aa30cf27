"""The paper configs are valid and plan a run of hundreds of jobs (dry run, no data needed)."""

import re

import pytest
from workflow_helpers import ROOT, snakemake


@pytest.mark.parametrize("name", ["config", "mnist", "cifar10", "fashion-mnist", "exact", "mislabel", "budget_curve",
                                  "scale", "fashion-10k", "breast_cancer", "wine"])
def test_dry_run(tmp_path, name):
    proc = snakemake(tmp_path, "--dry-run", config=ROOT / "config" / f"{name}.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    total = int(re.search(r"^total\s+(\d+)", out, re.M).group(1))
    shards = int(re.search(r"^shard\s+(\d+)", out, re.M).group(1))
    assert 20 <= total <= 1000 and shards <= 500, (total, shards)
    if name == "config":  # shard_size: auto, run locally: every utility table is one shard, merged alone
        merges = int(re.search(r"^merge\s+(\d+)", out, re.M).group(1))
        assert shards == merges, (shards, merges)
