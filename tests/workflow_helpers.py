"""Run the real workflow (snakemake as a subprocess) in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CI_CONFIG = ROOT / "config" / "ci.yaml"


def snakemake_command(workdir: Path, *args: str, config: Path = CI_CONFIG, cores: int = 2) -> list[str]:
    """``snakemake -s <repo>/Snakefile -d workdir --cores N <args> --configfile config`` as an argument list.

    ``--configfile`` comes last because it takes every word that follows it.
    """
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", str(cores)]
    return cmd + [*args, "--configfile", str(config)]


def snakemake(workdir: Path, *args: str, config: Path = CI_CONFIG, cores: int = 2, env: dict | None = None,
              timeout: int = 900) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command` (environment ``env``, default this one) and return the finished process."""
    cmd = snakemake_command(workdir, *args, config=config, cores=cores)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def write_config(path: Path, **overrides) -> Path:
    """ci.yaml with nested ``overrides`` (``{"section": {"key": value}}``) merged in."""
    cfg = yaml.safe_load(CI_CONFIG.read_text())
    for section, values in overrides.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
        else:
            cfg[section] = values
    path.write_text(yaml.safe_dump(cfg))
    return path


def dry_run_jobs(workdir: Path, config: Path) -> dict[str, int]:
    """Job counts per rule of a dry run of ``config`` in ``workdir`` (jobs still to run, if a run is there)."""
    proc = snakemake(workdir, "--dry-run", "--quiet", "rules", config=config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = {}
    lines = (proc.stdout + proc.stderr).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("job ")), None)
    if start is None:
        return counts
    for line in lines[start + 2 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts
