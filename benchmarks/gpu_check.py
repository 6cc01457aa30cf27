"""GPU check: the batched engine, the explainer and the workflow on a CUDA device, one summary line each.

``make gpu-check`` runs it. It is sized to finish in under 8 minutes on one GPU: the naive loops and the
workflow run have time limits, and the rest takes seconds. Each check prints lines that start with ``gpu-check:``:

1. ``utilities``: the engine's utilities on CUDA against the CPU for the same short training (``digits_cnn``,
   64 Shapley-kernel coalitions x 3 epochs, 100 probes): max |difference| against :data:`TOLERANCE`, PASS or
   FAIL. The same CUDA run with TF32 off is listed too; it tells a TF32 rounding gap from a fault.
2. ``engine``: the cases of ``benchmarks/engine.py`` (its data, coalitions and training) on CUDA: the batched
   engine against the naive one-model loop, also on CUDA: coalitions/s of each arm, speedup and peak GPU
   memory. The naive loop stops after :data:`NAIVE_SECONDS`; its rate comes from the coalitions it finished.
3. ``explainer``: latency of an FDS explainer (``small_cnn`` on digits, as ``benchmarks/explainer.py``
   builds it, untrained: latency does not depend on the weights; its zero last layer made random) at batch 1
   and 256: ``Explainer.values(x, device="cuda")`` (the service, null and explainer nets and the normalisation on
   CUDA, with the copies to and from the device). The CPU figure is listed alongside, and the largest difference
   between the two is checked against :data:`TOLERANCE`.
4. ``workflow``: ``snakemake --cores all`` on a copy of ``config/ci.yaml`` with ``device: cuda`` in a
   temporary folder: wall time and success (within :data:`WORKFLOW_SECONDS`).

Without CUDA it prints :data:`NO_CUDA` and exits 0. ``--device cpu`` runs the same checks with the CPU in
place of CUDA. That tests this script on a machine without a GPU; the comparisons are then CPU against CPU.
Exit status 1 if a check failed (a difference above tolerance, an error, a failed workflow run), else 0.

    .venv/bin/python benchmarks/gpu_check.py [--device cuda] [--only utilities,engine,explainer,workflow]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
from _common import bench_masks, digits_arrays, digits_service, latency, make_explainer, timed

if TYPE_CHECKING:
    import torch

    from fastdatashapley.explainers.model import Explainer
    from fastdatashapley.engine.training import TrainerSpec

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "gpu-check:"
NO_CUDA = f"{PREFIX} no CUDA device (torch.cuda.is_available() is False); nothing to check"

#: Largest |difference| allowed between CUDA and the CPU, for utilities (softmax values in [0, 1]) after 3
#: epochs and for explainer values. Measured on the CPU (digits_cnn, 64 coalitions x 3 epochs, 100 probes):
#: a random relative perturbation of the initial weights, as a proxy for rounding, of 1e-7 (float32) moves a
#: utility by up to 3e-5, and one of 5e-4 (TF32's unit roundoff; cuDNN convolutions use TF32 by default) by up
#: to 1.3e-4. A fault moves it by 6e-3 (one epoch fewer), 9e-3 (another data order) or 1.2e-2 (one training
#: point swapped). 1e-3 lies between the two: 8x above the TF32-sized gap, 6x below the smallest fault. (A
#: likely reason why 1e-7 grows to 3e-5: Adam's first steps are about lr * sign(gradient), so a near-zero
#: gradient whose sign flips moves a weight by a whole step of 1e-3.)
TOLERANCE = 1e-3
#: Time limit of the naive loop in each engine case, in seconds (it stops after the coalition that crosses it).
NAIVE_SECONDS = 40.0
#: Time limit of the workflow run, in seconds.
WORKFLOW_SECONDS = 270
#: The engine cases: ``benchmarks/engine.py``'s full ones, with 512 coalitions for paper_cnn too (a GPU needs
#: wide chunks; the naive loop's time limit keeps its arm short). name, arch, image side, epochs, coalitions, probes.
ENGINE_CASES = (
    ("paper_cnn 1x28x28", "paper_cnn", 28, 50, 512, 1110),
    ("digits_cnn 1x8x8", "digits_cnn", 8, 50, 512, 1110),
)

Result = tuple[list[str], bool]  # summary lines, passed


def _sync(dev: torch.device) -> None:
    """Wait for the device's queued work, so that wall times include it."""
    import torch

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _peak_reset(dev: torch.device) -> None:
    """Start a new peak-memory count on ``dev`` (nothing on the CPU)."""
    import torch

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def _peak(dev: torch.device) -> str:
    """Peak GPU memory allocated since :func:`_peak_reset`, as text (``n/a`` on the CPU)."""
    import torch

    return f"{torch.cuda.max_memory_allocated(dev) / 2**20:.0f} MiB" if dev.type == "cuda" else "n/a"


@contextmanager
def strict_fp32() -> Iterator[None]:
    """TF32 off for cuDNN convolutions and CUDA matrix products inside the block; the old settings come back after."""
    import torch

    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def naive_utilities(spec: TrainerSpec, init: dict, x: np.ndarray, y: np.ndarray, mask: np.ndarray,
                    probes: np.ndarray, dev: torch.device) -> np.ndarray:
    """The naive arm for one coalition: :func:`~fastdatashapley.engine.training.train_single` on ``dev``, then the
    trained model's softmax ``[P, m]`` on the probes (:func:`~fastdatashapley.engine.training.predict_proba`)."""
    from fastdatashapley.engine.training import predict_proba, train_single

    return predict_proba(spec, train_single(spec, init, x, y, mask, seed=0, device=dev), probes)


def _short_problem(n_coalitions: int = 64, epochs: int = 3, n_probes: int = 100) -> tuple:
    """The utilities check's problem: (spec, init, x, y, masks, probes) from ``benchmarks/engine.py``'s data."""
    from fastdatashapley.engine.training import TrainerSpec, init_state

    x, y, probes = digits_arrays(8, 100, n_probes)
    masks = bench_masks(n_coalitions, len(y))
    spec = TrainerSpec("digits_cnn", x.shape[1:], 10, lr=1e-3, epochs=epochs, batch_size=20)
    return spec, init_state(spec, 0), x, y, masks, probes


def check_utilities(dev: torch.device, args: argparse.Namespace) -> Result:
    """Engine utilities on ``dev`` against the CPU, short training; PASS if within :data:`TOLERANCE`."""
    from fastdatashapley.engine.training import train_submodels

    spec, init, x, y, masks, probes = _short_problem()
    run = lambda device: train_submodels(spec, init, x, y, masks, probes, seed=0, device=device)  # noqa: E731
    cpu, on_dev = run("cpu"), run(dev)
    gap = np.abs(on_dev - cpu)
    again = float(np.abs(run(dev) - on_dev).max())
    with strict_fp32():
        strict = float(np.abs(run(dev) - cpu).max())
    ok = bool(gap.max() <= TOLERANCE)
    line = (f"{PREFIX} utilities {dev.type} vs cpu (digits_cnn, {len(masks)} coalitions x {spec.epochs} epochs, "
            f"{len(probes)} probes): max |difference| {gap.max():.2e} (mean {gap.mean():.1e}), tolerance "
            f"{TOLERANCE:.0e}: {'PASS' if ok else 'FAIL'}; with TF32 off {strict:.2e}; {dev.type} run to run "
            f"{again:.1e}")
    return [line], ok


def _warm_up(spec: TrainerSpec, init: dict, x: np.ndarray, y: np.ndarray, probes: np.ndarray,
             dev: torch.device) -> None:
    """One short run of each arm, so that neither timed arm pays for CUDA's start-up."""
    from fastdatashapley.engine.training import train_submodels

    short = replace(spec, epochs=1)
    masks = np.ones((2, len(y)), bool)
    train_submodels(short, init, x, y, masks, probes[:8], seed=0, device=dev)
    naive_utilities(short, init, x, y, masks[0], probes[:8], dev)
    _sync(dev)


def _naive_arm(spec: TrainerSpec, init: dict, x: np.ndarray, y: np.ndarray, masks: np.ndarray, probes: np.ndarray,
               dev: torch.device, limit: float) -> tuple[np.ndarray, float]:
    """The naive loop over ``masks`` until ``limit`` seconds have passed: (utilities ``[k, P, m]``, seconds)."""
    out, t0 = [], time.perf_counter()
    for mask in masks:
        out.append(naive_utilities(spec, init, x, y, mask, probes, dev))
        if time.perf_counter() - t0 > limit:
            break
    return np.stack(out), time.perf_counter() - t0


def engine_case(case: tuple, dev: torch.device, limit: float) -> str:
    """One engine case on ``dev``: batched engine against the naive loop (module docstring), one line."""
    from fastdatashapley.engine.training import TrainerSpec, init_state, train_submodels

    name, arch, size, epochs, count, n_probes = case
    x, y, probes = digits_arrays(size, 100, n_probes)
    masks = bench_masks(count, len(y))
    spec = TrainerSpec(arch, x.shape[1:], 10, lr=1e-3, epochs=epochs, batch_size=20)
    init = init_state(spec, 0)
    _warm_up(spec, init, x, y, probes, dev)
    _peak_reset(dev)
    t0 = time.perf_counter()
    batched = train_submodels(spec, init, x, y, masks, probes, seed=0, device=dev)
    tb, mb = time.perf_counter() - t0, _peak(dev)
    _peak_reset(dev)
    naive, tn = _naive_arm(spec, init, x, y, masks, probes, dev, limit)
    k, mn = len(naive), _peak(dev)
    rb, rn = count / tb, k / tn
    return (f"{PREFIX} engine {name} x {epochs} epochs, {n_probes} probes on {dev.type}: batched {rb:.1f} "
            f"coalitions/s ({count} in {tb:.2f} s, peak {mb}), naive loop {rn:.2f} coalitions/s ({k} in {tn:.2f} s, "
            f"peak {mn}), speedup {rb / rn:.1f}x; max |utility difference| {np.abs(batched[:k] - naive).max():.1e}")


def check_engine(dev: torch.device, args: argparse.Namespace) -> Result:
    """Every case of :data:`ENGINE_CASES`; a speed report, so it passes unless it raises."""
    return [engine_case(case, dev, args.naive_seconds) for case in ENGINE_CASES], True


def _random_head(explainer: Explainer) -> Explainer:
    """The explainer with its zero-initialised parameters (the last layer) drawn from a seeded normal, so
    that its net's outputs, and not only the service model's, reach the values compared."""
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in explainer.net.parameters():
            if not p.any():
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
    return explainer


def check_explainer(dev: torch.device, args: argparse.Namespace) -> Result:
    """Explainer latency at batch 1 and 256 on ``dev`` against the CPU; PASS if the values agree."""
    ds, split, x, y, _, service = digits_service()
    new = ds.x[split.rest[:256]]
    explainer = _random_head(make_explainer("small_cnn", service, x, y))
    cpu = latency(explainer, new, 20)

    def values(images: np.ndarray) -> np.ndarray:
        out = explainer.values(images, device=dev)
        _sync(dev)
        return out

    b1 = timed(lambda: values(new[:1]), 50)[0] * 1e3
    b256 = timed(lambda: values(new), 10)[0] / len(new) * 1e3
    gap = float(np.abs(values(new) - explainer.values(new)).max())
    ok = gap <= TOLERANCE
    line = (f"{PREFIX} explainer small_cnn, digits n = {explainer.n}, on {dev.type}: batch 1 {b1:.3f} ms, batch 256 "
            f"{b256:.4f} ms per sample (cpu Explainer.values: {cpu['batch1_ms']:.3f} ms, "
            f"{cpu['batch256_ms_per_sample']:.4f} ms per sample); max |values difference| {gap:.1e}, tolerance "
            f"{TOLERANCE:.0e}: {'PASS' if ok else 'FAIL'}")
    return [line], ok


def _workflow_config(folder: Path, device: str) -> Path:
    """A copy of ``config/ci.yaml`` with ``device`` set, written into ``folder``."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg["device"] = device
    path = folder / f"ci-{device}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _explainer_device(workdir: Path, run: str) -> str:
    """The device the run's FDS explainer says it trained on (``?`` if its file cannot be read)."""
    from fastdatashapley.explainers.model import Explainer

    try:
        return str(Explainer.load(workdir / "results" / run / "explainers" / "fds.pt").meta.get("device", "?"))
    except Exception:  # a report, not a check: the run's own status says whether it worked
        return "?"


def run_group(cmd: list[str], timeout: float) -> tuple[int | None, str]:
    """Run ``cmd`` in its own process group: (exit status, or None after ``timeout`` seconds; stdout + stderr).

    On timeout the whole group gets SIGTERM (snakemake then cancels its running jobs), and SIGKILL 20 s later,
    so no rule job outlives the check.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = proc.communicate(timeout=timeout)[0]
        return proc.returncode, output
    except subprocess.TimeoutExpired:
        pass
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        output = proc.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
    return None, f"timed out after {timeout} s\n{output}"


def check_workflow(dev: torch.device, args: argparse.Namespace) -> Result:
    """``snakemake --cores all`` on ``config/ci.yaml`` with ``device: <dev>`` in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        config, workdir = _workflow_config(Path(tmp), dev.type), Path(tmp) / "work"
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--cores", "all",
               "--configfile", str(config)]
        t0 = time.perf_counter()
        rc, output = run_group(cmd, args.workflow_seconds)
        seconds, ok, tail = time.perf_counter() - t0, rc == 0, output[-4000:]
        where = _explainer_device(workdir, "ci") if ok else "?"
    if not ok:
        print(f"{PREFIX} workflow output (tail):\n{tail}", file=sys.stderr)
    status = "PASS" if ok else ("FAIL (timed out)" if rc is None else f"FAIL (exit status {rc})")
    line = (f"{PREFIX} workflow config/ci.yaml with device: {dev.type}, snakemake --cores all: {seconds:.0f} s, "
            f"{status}; FDS explainer trained on {where}")
    return [line], ok


CHECKS: dict[str, Callable[..., Result]] = {
    "utilities": check_utilities,
    "engine": check_engine,
    "explainer": check_explainer,
    "workflow": check_workflow,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; ``only`` becomes a list of known check names."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="device to check (default cuda; cpu tests this script)")
    ap.add_argument("--only", default=",".join(CHECKS), help=f"comma-separated checks (default: {','.join(CHECKS)})")
    ap.add_argument("--naive-seconds", type=float, default=NAIVE_SECONDS, help="time limit of each naive loop")
    ap.add_argument("--workflow-seconds", type=int, default=WORKFLOW_SECONDS, help="time limit of the workflow run")
    args = ap.parse_args(argv)
    args.only = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(args.only) - set(CHECKS))
    if unknown:
        ap.error(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(CHECKS)}")
    return args


def run_check(name: str, dev: torch.device, args: argparse.Namespace) -> bool:
    """Run one check and print its lines; an exception is a FAIL line (traceback on stderr)."""
    try:
        lines, ok = CHECKS[name](dev, args)
    except Exception as exc:
        traceback.print_exc()
        lines, ok = [f"{PREFIX} {name}: FAIL ({type(exc).__name__}: {exc})"], False
    for line in lines:
        print(line, flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    """Run the checks on ``--device``; 0 if all passed (or there is no CUDA device), else 1."""
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"{PREFIX} {name}, torch {torch.__version__} (CUDA {torch.version.cuda}), checks: {', '.join(args.only)}",
          flush=True)
    t0 = time.perf_counter()
    passed = [run_check(check, dev, args) for check in args.only]
    print(f"{PREFIX} {sum(passed)} of {len(passed)} checks passed in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0 if all(passed) else 1


if __name__ == "__main__":
    sys.exit(main())
