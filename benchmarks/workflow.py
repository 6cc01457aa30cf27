"""Benchmark: a whole workflow run, its wall time against its compute floor.

Runs ``snakemake --cores all`` on a config in a fresh working directory (or analyses a finished run with
``--analyse``), then reads every job's benchmark file (``results/<run>/benchmarks/**.tsv``: wall seconds of
the job's process, start-up included) and log (``results/<run>/logs/**.log``) and prints:

* wall time of the run and peak RSS of its largest job;
* jobs, and the sum of their seconds: with every job taking all cores (as the training rules do), a
  schedule cannot beat this sum by much;
* the compute floor: the sum of each job's work, from its first to its last log line (the log starts
  after the job's imports and ends when its outputs are written). The rest of a job's seconds is start-up:
  Python, torch and the inputs;
* with ``--compare OTHER``: whether ``tables/*.csv`` (except ``cost.csv``, which holds seconds) are
  bit-identical to those of another finished run ``OTHER`` (a ``results/<run>`` folder).

    .venv/bin/python benchmarks/workflow.py [--configfile config/config.yaml] [--workdir DIR] [--compare RUN]
    .venv/bin/python benchmarks/workflow.py --analyse results/digits [--compare RUN]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import filecmp
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", re.M)


def run_workflow(configfile: Path, workdir: Path) -> tuple[float, float]:
    """``snakemake --cores all`` on ``configfile`` in ``workdir``: (wall seconds, peak RSS of a job in MiB)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "all",
           "--configfile", str(configfile)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"snakemake failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def job_seconds(run: Path) -> list[tuple[str, float, float]]:
    """(job, benchmark seconds, work seconds) of every job of the finished run folder ``run``."""
    jobs = []
    for bench in sorted(run.glob("benchmarks/**/*.tsv")):
        rel = bench.relative_to(run / "benchmarks")
        seconds = float(next(csv.DictReader(bench.open(), delimiter="\t"))["s"])
        log = (run / "logs" / rel).with_suffix(".log")
        stamps = STAMP.findall(log.read_text(errors="replace")) if log.exists() else []
        times = [dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f") for s in stamps]
        work = (times[-1] - times[0]).total_seconds() if times else seconds
        jobs.append((str(rel.with_suffix("")), seconds, min(work, seconds)))
    return jobs


def compare_tables(run: Path, other: Path) -> list[str]:
    """Names of ``tables/*.csv`` (cost.csv aside) that differ between two runs or exist in only one."""
    names = {p.name for p in run.glob("tables/*.csv")} | {p.name for p in other.glob("tables/*.csv")}
    names.discard("cost.csv")
    return sorted(n for n in names if not ((run / "tables" / n).exists() and (other / "tables" / n).exists()
                                            and filecmp.cmp(run / "tables" / n, other / "tables" / n, shallow=False)))


def report(run: Path, wall: float | None, rss: float | None, other: Path | None) -> None:
    """Print the run's figures (module docstring)."""
    jobs = job_seconds(run)
    total, work = sum(j[1] for j in jobs), sum(j[2] for j in jobs)
    if wall is not None:
        print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min); peak RSS of a job: {rss:.0f} MiB")
    print(f"jobs: {len(jobs)}; sum of job seconds: {total:.0f} s")
    print(f"compute floor (sum of the jobs' work, log start to end): {work:.0f} s; start-up and input reading: "
          f"{total - work:.0f} s ({(total - work) / max(len(jobs), 1):.2f} s a job)")
    print("largest jobs: " + ", ".join(f"{name} {s:.0f} s" for name, s, _ in sorted(jobs, key=lambda j: -j[1])[:5]))
    if other is not None:
        differ = compare_tables(run, other)
        print(f"tables/*.csv (cost.csv aside) against {other}: " + ("bit-identical" if not differ else f"DIFFER: {differ}"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", type=Path, default=ROOT / "config" / "config.yaml")
    ap.add_argument("--workdir", type=Path, default=None, help="where to run (default: a new temporary folder)")
    ap.add_argument("--analyse", type=Path, default=None, help="a finished run's results/<run> folder: no new run")
    ap.add_argument("--compare", type=Path, default=None, help="another finished run's results/<run> folder")
    a = ap.parse_args(argv)
    if a.analyse is not None:
        report(a.analyse, None, None, a.compare)
        return
    workdir = a.workdir or Path(tempfile.mkdtemp(prefix="fds-workflow-"))
    wall, rss = run_workflow(a.configfile.resolve(), workdir)
    run = workdir / "results" / yaml.safe_load(a.configfile.read_text())["run"]
    print(f"run: {run}")
    report(run, wall, rss, a.compare)


if __name__ == "__main__":
    main()
