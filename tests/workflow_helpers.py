"""Run the real workflow (snakemake as a subprocess) in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CI_CONFIG = ROOT / "config" / "ci.yaml"


def snakemake(workdir: Path, *args: str, config: Path = CI_CONFIG, timeout: int = 900) -> subprocess.CompletedProcess:
    """``snakemake -s <repo>/Snakefile -d workdir --configfile config <args>``; returns the finished process."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir)]
    cmd += ["--configfile", str(config), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


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
