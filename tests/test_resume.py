"""A run killed (SIGKILL) in the middle of a shard resumes with --rerun-incomplete to bit-identical tables."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
from workflow_helpers import snakemake, snakemake_command, write_config

from fastdatashapley.engine.utility_table import UtilityTable

pytestmark = pytest.mark.slow
TABLE = "results/ci/utility/kernel-full.npz"


def test_kill_mid_shard_then_resume_is_bit_identical(tmp_path):
    # Shards long enough to be caught mid-training.
    cfg = write_config(tmp_path / "c.yaml", service={"epochs": 100}, coalitions={"shard_size": 256, "kernel": 256})
    a, b = tmp_path / "a", tmp_path / "b"
    done = snakemake(a, TABLE, config=cfg)
    assert done.returncode == 0, done.stderr[-3000:]

    cmd = snakemake_command(b, TABLE, config=cfg, cores=1)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    log = b / "results/ci/logs/shards/kernel-full/0.log"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (log.exists() and "training" in log.read_text()):
        time.sleep(0.2)
    assert log.exists(), "the first shard never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    shard = b / "results/ci/shards/kernel-full/0.npz"
    assert not shard.exists(), "a killed shard must leave no output"
    assert not (b / TABLE).exists()

    assert snakemake(b, "--unlock", config=cfg).returncode == 0
    resumed = snakemake(b, TABLE, "--rerun-incomplete", config=cfg)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    ta, tb = UtilityTable.load(a / TABLE), UtilityTable.load(b / TABLE)
    for field in ("masks", "utilities", "null", "grand", "probe_ids"):
        assert np.array_equal(getattr(ta, field), getattr(tb, field)), field
    assert not [p for p in (b / "results").rglob(".*") if p.is_file()], "temporary files left behind"
