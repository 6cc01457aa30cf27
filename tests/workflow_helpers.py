"""Run the real workflow (snakemake as a subprocess) in a temporary directory."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
CI_CONFIG = ROOT / "config" / "ci.yaml"
HOLD_PLUGIN = ROOT / "tests" / "hold_plugin.py"
SEEDS_RUN = "results/ci-seeds"  # the run folder of conftest's noisy_seeds_run
#: Where a signal goes: the held job's process, snakemake's, or the whole process group (Ctrl-C in a terminal).
JOB, SNAKEMAKE, GROUP = "job", "snakemake", "group"


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


def copy_run(run: Path, to: Path) -> Path:
    """A copy of the run folder ``run`` at ``to`` (times kept, so Snakemake sees the same state)."""
    shutil.copytree(run, to, symlinks=True)
    return to


def dry_run_outputs(workdir: Path, config: Path, *args: str) -> list[str]:
    """The output files of every job a dry run with ``args`` lists, rule all's (none) included."""
    proc = snakemake(workdir, "--dry-run", *args, config=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = [line.strip() for line in proc.stdout.splitlines()]
    return [f for line in lines if line.startswith("output: ") for f in line.removeprefix("output: ").split(", ")]


def undo(workdir: Path, config: Path, target: str) -> list[str]:
    """Delete ``target`` and every output downstream of it: the run as if it had stopped before the job that
    writes ``target``. Returns the deleted paths."""
    outputs = dry_run_outputs(workdir, config, "--forcerun", target)
    assert target in outputs, outputs
    for f in outputs:
        (workdir / f).unlink()
    return outputs


def results_digest(workdir: Path) -> dict[str, str]:
    """SHA-256 of what every file under ``results/`` holds (:func:`untimed_content`), logs and benchmarks left out
    (they are times): path -> digest. Two runs of one config (same machine and ``--cores``) give equal digests."""
    return {str(p.relative_to(workdir)): hashlib.sha256(untimed_content(p)).hexdigest()
            for p in sorted((workdir / "results").rglob("*"))
            if p.is_file() and not {"logs", "benchmarks"} & set(p.relative_to(workdir).parts)}


def untimed_content(path: Path) -> bytes:
    """The bytes of ``path``, less the wall times it records (``seconds...`` keys, a ``seconds`` column): an
    ``.npz`` as its arrays with its JSON ``meta`` (the checksum covers the times), an explainer or model ``.pt``
    as its tensors and fields, a CSV or Markdown table cell by cell."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k != "__checksum__"}
        if "meta" in arrays:
            arrays["meta"] = _untimed(json.loads(str(arrays["meta"])))
        return _canonical(arrays)
    if path.suffix == ".pt":
        import torch

        return _canonical(_untimed(torch.load(path, weights_only=True)))
    if path.suffix in (".csv", ".md"):
        rows = [line.split("|" if path.suffix == ".md" else ",") for line in path.read_text().splitlines()]
        keep = [i for i, cell in enumerate(rows[0] if rows else []) if cell.strip() != "seconds"]
        return "\n".join("|".join(row[i] for i in keep if i < len(row)) for row in rows).encode()
    return path.read_bytes()


def _untimed(obj):
    """``obj`` (nested dicts and lists) without the keys that start with ``seconds``."""
    if isinstance(obj, dict):
        return {k: _untimed(v) for k, v in obj.items() if not str(k).startswith("seconds")}
    if isinstance(obj, (list, tuple)):
        return [_untimed(v) for v in obj]
    return obj


def _canonical(obj) -> bytes:
    """Bytes that two equal nested structures of dicts, lists, arrays, tensors and scalars share."""
    if isinstance(obj, dict):
        return b"{" + b",".join(repr(k).encode() + b":" + _canonical(obj[k]) for k in sorted(obj, key=str)) + b"}"
    if isinstance(obj, list):
        return b"[" + b",".join(_canonical(v) for v in obj) + b"]"
    if hasattr(obj, "numpy"):  # a tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return f"{obj.dtype}{obj.shape}".encode() + np.ascontiguousarray(obj).tobytes()
    return repr(obj).encode()


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


def _default_signals() -> None:
    """SIGINT and SIGQUIT at their default in the child: a suite started in the background (``cmd &`` in a script)
    inherits them ignored, and Ctrl-C would then never reach the held job."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class HeldRun:
    """snakemake in a session of its own whose job with log ``log`` (relative to ``workdir``) is held when it logs
    a line that starts with ``line`` (tests/hold_plugin.py; ``config`` must list :data:`HOLD_PLUGIN` in
    ``plugins``). A context manager: on exit a run still going is killed, so no held job outlives its test."""

    def __init__(self, workdir: Path, config: Path, log: str, line: str, *args: str, cores: int = 2) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="hold-", dir=workdir.parent))
        self.output = self.folder / "snakemake.out"
        env = {**os.environ, "FDS_HOLD": str(self.folder), "FDS_HOLD_LOG": str(workdir / log), "FDS_HOLD_LINE": line}
        with open(self.output, "w") as out:
            self.proc = subprocess.Popen(snakemake_command(workdir, *args, config=config, cores=cores), stdout=out,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                         preexec_fn=_default_signals)

    def __enter__(self) -> "HeldRun":
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def text(self) -> str:
        """What snakemake has printed so far."""
        return self.output.read_text(errors="replace")

    def held(self) -> int:
        """Wait until the job is held; its pid."""
        held = self.folder / "held"
        wait_for(held.exists, self, "the job to reach its held line")
        return int(held.read_text())

    def wait_printed(self, text: str) -> None:
        wait_for(lambda: text in self.text(), self, f"snakemake to print {text!r}")

    def signal(self, sig: int, to: str) -> None:
        """Send ``sig`` to the held job (:data:`JOB`), to snakemake (:data:`SNAKEMAKE`) or to both (:data:`GROUP`)."""
        if to == GROUP:
            os.killpg(self.proc.pid, sig)
        else:
            os.kill(self.held() if to == JOB else self.proc.pid, sig)

    def release(self) -> None:
        (self.folder / "release").touch()

    def wait(self, timeout: float = 900) -> int:
        """snakemake's exit status, once it has ended."""
        return self.proc.wait(timeout)


def wait_for(condition: Callable[[], bool], run: HeldRun, what: str, timeout: float = 900) -> None:
    """Poll ``condition`` until it holds; fail if snakemake ends first. ``timeout`` only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        if run.proc.poll() is not None:  # it may have ended just after the condition came true
            assert condition(), f"snakemake ended before {what}:\n{run.text()[-3000:]}"
            return
        assert time.monotonic() < deadline, f"no sign of {what} after {timeout} s:\n{run.text()[-3000:]}"
        time.sleep(0.05)


def hold_config(path: Path, **overrides) -> Path:
    """:func:`write_config` with :data:`HOLD_PLUGIN` among the plugins (it changes no output)."""
    return write_config(path, plugins=[str(HOLD_PLUGIN)], **overrides)
