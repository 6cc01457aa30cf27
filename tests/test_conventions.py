"""The workflow's conventions: snakefmt formatting and snakemake's linter are both clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_helpers import ROOT

BIN = Path(sys.executable).parent


def test_snakefmt_check_is_clean():
    files = [str(ROOT / "Snakefile"), str(ROOT / "workflow")]
    proc = subprocess.run([str(BIN / "snakefmt"), "--check", *files], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakemake_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr
