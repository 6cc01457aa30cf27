"""The SLURM profile, end to end: config/ci.yaml through ``--profile profiles/slurm`` on a real one-node cluster.

The cluster (tests/slurm_cluster.py) runs Debian's slurm-wlm without slurmdbd, as the profile must support.
The test installs slurm-wlm and munge with apt-get when they are missing, and skips only when that fails.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from slurm_cluster import SlurmCluster, ensure_installed
from workflow_helpers import ROOT, snakemake

PROFILE = ROOT / "profiles" / "slurm"
pytestmark = pytest.mark.slow

# The profile waits 20 s before its first status check (sized for a busy cluster); one short check keeps
# this chain of small jobs quick. squeue stays reliable: the cluster's MinJobAge (300 s) >= 3 x this.
INIT_CHECK_S = 3


@pytest.fixture(scope="module")
def cluster():
    reason = ensure_installed()
    if reason is not None:
        pytest.skip(f"cannot install the SLURM daemons: {reason}")
    c = SlurmCluster(min_job_age=300)
    c.start()
    try:
        yield c
    finally:
        c.stop()
        c.cleanup()


def _diagnostics(cluster: SlurmCluster, workdir: Path, proc_output: str) -> str:
    """Snakemake's output, the kept SLURM job logs, the rules' logs and the daemons' logs."""
    parts = [f"===== snakemake output (tail) =====\n{proc_output[-8000:]}"]
    logs = sorted((workdir / ".snakemake" / "slurm_logs").rglob("*.log")) + sorted(workdir.glob("results/*/logs/*.log"))
    for path in logs:
        parts.append(f"===== {path.relative_to(workdir)} (tail) =====\n{path.read_text(errors='replace')[-3000:]}")
    parts.append(cluster.logs())
    return "\n".join(parts)


def _minutes(limit: str) -> int:
    """SLURM's time limit text ('30:00', '1:00:00', '1-02:00:00') in minutes."""
    days, _, clock = limit.rpartition("-")
    fields = [int(f) for f in clock.split(":")]
    h, m, s = ([0] * (3 - len(fields)) + fields) if len(fields) > 1 else (0, fields[0], 0)
    return (int(days or 0) * 24 + h) * 60 + m + (1 if s else 0)


def _megabytes(mem: str) -> int:
    """SLURM's memory text ('4000M', '4G') in MB."""
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}
    return round(float(mem[:-1]) * scale[mem[-1]]) if mem[-1] in scale else int(mem)


def _submitted_jobs(output: str) -> dict[str, dict]:
    """{SLURM job id: {rule, threads, mem_mb, runtime}} for every job that snakemake printed and submitted."""
    blocks = {}
    for block in re.split(r"\n(?=\[[^\]]+\]\n)", output):
        head = re.search(r"^rule (\w+):$", block, re.M)
        if head is None:  # local rules, progress lines
            continue
        res = re.search(r"^\s+resources: (.*)$", block, re.M).group(1)
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        blocks[re.search(r"^\s+jobid: (\d+)$", block, re.M).group(1)] = {
            "rule": head.group(1),
            "threads": int(threads.group(1)) if threads else 1,
            "mem_mb": int(re.search(r"\bmem_mb=(\d+)", res).group(1)),
            "runtime": int(re.search(r"\bruntime=(\d+)", res).group(1)),
        }
    submitted = re.findall(r"^Job (\d+) has been submitted with SLURM jobid (\d+)", output, re.M)
    assert blocks and sorted(blocks) == sorted(job for job, _ in submitted), "a job was not submitted to SLURM"
    return {slurm_id: blocks[job] for job, slurm_id in submitted}


def test_profile_is_the_documented_slurm_setup():
    """The profile selects the slurm executor with squeue status checks and a runtime/memory fallback."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] == "squeue"
    assert {"mem_mb", "runtime"} <= set(profile["default-resources"])
    assert isinstance(profile["jobs"], int) and profile["jobs"] >= 100  # hundreds of shards per run


# Every stage up to an explainer (data, split, service model, probes, design, shards, merge, explainer):
# the whole ci workflow has ~40 jobs at ~16 s of SLURM overhead each, too slow for the test suite.
TARGET = "results/ci/values/per_sample/fds.npz"


def test_ci_config_runs_through_the_slurm_profile(cluster: SlurmCluster, tmp_path: Path):
    args = [TARGET, "--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", str(INIT_CHECK_S)]
    start = time.monotonic()
    try:
        proc = snakemake(tmp_path, *args, cores=cluster.cpus, env=cluster.env, timeout=900)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode(errors="replace") + (err.stderr or b"").decode(errors="replace")
        pytest.fail(f"snakemake did not finish within {err.timeout} s\n{_diagnostics(cluster, tmp_path, out)}")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake exited {proc.returncode}\n{_diagnostics(cluster, tmp_path, output)}"
    print(f"ci workflow through SLURM: {time.monotonic() - start:.1f} s")

    # Every non-local job went to SLURM, and SLURM ran each with its rule's resources.
    expected = _submitted_jobs(output)
    run_id = re.search(r"^SLURM run ID: (\S+)$", output, re.M).group(1)
    queue = cluster.run("squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%T|%k|%l|%m|%C")
    assert queue.returncode == 0, queue.stderr
    seen = set()
    for line in queue.stdout.split():
        jobid, state, comment, limit, mem, cpus = line.split("|")
        seen.add(jobid)
        want = expected[jobid]
        assert state == "COMPLETED", f"SLURM job {jobid} ({want['rule']}) ended {state}"
        assert comment == f"rule_{want['rule']}" or comment.startswith(f"rule_{want['rule']}_wildcards_"), comment
        assert _minutes(limit) == want["runtime"], (jobid, limit, want)
        assert _megabytes(mem) == want["mem_mb"], (jobid, mem, want)
        assert int(cpus) == want["threads"], (jobid, cpus, want)
    assert seen == set(expected), f"squeue lists {sorted(seen)}, snakemake submitted {sorted(expected)}"

    # The target is complete: a local dry run of the same config finds nothing left to do.
    assert (tmp_path / TARGET).stat().st_size > 0
    dry = snakemake(tmp_path, TARGET, "--dry-run", cores=cluster.cpus, env=cluster.env, timeout=300)
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout + dry.stderr


def test_cluster_stops_only_its_own_daemons(cluster: SlurmCluster):
    """A second cluster starts beside the first; stopping it ends its three daemons and nothing else."""
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        other = SlurmCluster(min_job_age=60)
        other.start()
        pids = {name: proc.pid for name, proc in other.procs.items()}
        assert set(pids) == {"munged", "slurmctld", "slurmd"}
        assert other.run("sinfo", "-h", "-o", "%T").stdout.strip() == "idle"
        other.stop()
        other.cleanup()
        for name, pid in pids.items():
            assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) still runs"
        assert bystander.poll() is None
        assert cluster.run("scontrol", "ping").returncode == 0, "stopping one cluster stopped the other"
        assert not other.root.exists()
    finally:
        bystander.kill()
        bystander.wait()
