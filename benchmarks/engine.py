"""Benchmark: the batched retraining engine against a naive loop of single-model training.

Both arms train the *same* coalitions (Shapley-kernel sizes, uniform subsets) with the same initial
weights, data order, epochs and probes, and return the same utilities ``[M, P, m]``:

1. batched: :func:`fastdatashapley.engine.training.train_submodels` (all coalitions at once, chunked; the path it
   picks for the arch: fused for the built-in archs, generic torch.func for others);
2. naive:   :func:`fastdatashapley.engine.training.train_single` one coalition at a time, then ``predict_proba`` on the probes;
3. generic: ``train_submodels(..., engine_path="generic")``, the torch.func path forced on a model the fused path
   also runs (``digits_cnn``), so fused and generic are timed on the same model.

Each arm runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its own.
Cases: ``digits_cnn`` on scikit-learn digits (n=100, 50 epochs, batch 20, lr 1e-3; arms 1-3), ``paper_cnn`` on
1x28x28 inputs (digits upsampled, n=100; arms 1-2) and ``residual_mlp`` (the example plugin
``examples/residual_mlp.py``: LayerNorm and a residual block, outside the fused layer set, so arm 1 is the generic
path) on digits as ``digits_cnn`` (arms 1-2). ``--quick`` shrinks epochs and counts to finish in about a minute.

Efficiency: each arm's GFLOP/s is the training work it did divided by its wall time, against a dense float32
matmul peak measured in the same run, in a fresh process with the same torch thread count (best GFLOP/s of
``torch.mm`` on square matrices of 1024, 2048 and 4096). Training work counts, per image a coalition really
trains on (its members, once per epoch; padding rows are not counted), the conv / linear MACs of the arch
times 2 for the forward pass and about 2x that for the backward (weight gradients, and input gradients for
every layer but the first): ``6 F - 2 F_first`` FLOPs, see :mod:`fastdatashapley.engine.training.flops`. Biases,
ReLU, pooling, the loss, the optimiser and the probe predictions are not counted (the wall time includes
them), so the figure is a lower bound on the arithmetic rate. The last three lines are
``generic: <x>x over the naive loop (residual_mlp), fused <y>x over generic (digits_cnn)``,
``efficiency: <paper_cnn %> <digits_cnn %>`` (batched engine, % of peak) and ``speedup: <x>x`` (digits_cnn,
naive time / batched time).

    python benchmarks/engine.py [--quick] [--threads T]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import bench_masks, digits_arrays, in_fresh_process


#: The example plugin that registers ``residual_mlp``, a model outside the fused layer set.
PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "residual_mlp.py"


@dataclass
class Case:
    name: str
    arch: str
    size: int  # image side
    epochs: int
    n_coalitions: int
    n_probes: int
    arms: tuple[str, ...] = ("batched", "naive")


def _arm(args: tuple) -> tuple[float, np.ndarray, float]:
    """Run one arm in this (fresh) process: (seconds, utilities [M, P, m], peak RSS in MiB)."""
    which, case, threads, x, y, probes, masks = args
    import torch

    from fastdatashapley.base.registry import load_plugins
    from fastdatashapley.engine.training import TrainerSpec, init_state, predict_proba, train_single, train_submodels

    if threads:
        torch.set_num_threads(threads)
    load_plugins([str(PLUGIN)])
    spec = TrainerSpec(case.arch, x.shape[1:], 10, lr=1e-3, epochs=case.epochs, batch_size=20)
    init = init_state(spec, 0)
    t0 = time.perf_counter()
    if which in ("batched", "generic"):
        path = "auto" if which == "batched" else "generic"
        u = train_submodels(spec, init, x, y, masks, probes, seed=0, device="cpu", engine_path=path)
    else:
        u = np.stack([predict_proba(spec, train_single(spec, init, x, y, s, seed=0), probes) for s in masks])
    seconds = time.perf_counter() - t0
    return seconds, u, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _matmul_peak(threads: int | None, sizes: tuple[int, ...] = (1024, 2048, 4096), repeats: int = 3) -> float:
    """Dense float32 matmul peak in GFLOP/s: best of ``repeats`` ``torch.mm`` of each square size (fresh process)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    best = 0.0
    for n in sizes:
        a, b = torch.rand(n, n), torch.rand(n, n)
        torch.mm(a, b)  # warm-up
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def train_gflop(arch: str, in_shape: tuple[int, int, int], masks: np.ndarray, epochs: int, n_classes: int = 10) -> float:
    """GFLOPs of training every coalition of ``masks [M, n]`` for ``epochs``: images seen x FLOPs per image."""
    from fastdatashapley.engine.models import build_service_model
    from fastdatashapley.engine.training.flops import train_flops_per_image

    per_image = train_flops_per_image(build_service_model(arch, in_shape, n_classes), in_shape)
    return float(masks.sum()) * epochs * per_image / 1e9


@dataclass
class CaseResult:
    """What a case measured: naive / batched time, the batched engine's % of peak, generic / fused time (or None)."""

    speedup: float
    efficiency: float
    fused_over_generic: float | None = None


def _arm_line(label: str, m: int, seconds: float, gflop: float, peak: float, rss: float) -> str:
    return (f"  {label + ':':<16}{m / seconds:8.2f} coalitions/s  ({seconds:7.2f} s)  {gflop / seconds:6.2f} GFLOP/s"
            f" ({100 * gflop / seconds / peak:5.1f}% of peak)  peak RSS {rss:7.0f} MiB")


def run_case(case: Case, threads: int | None, peak: float) -> CaseResult:
    """Run the arms of ``case``, print their lines; return its :class:`CaseResult`."""
    x, y, probes = digits_arrays(case.size, 100, case.n_probes)
    masks = bench_masks(case.n_coalitions, len(y))
    results = {which: in_fresh_process(_arm, (which, case, threads, x, y, probes, masks)) for which in case.arms}
    (tb, ub, mb), (tn, un, mn) = results["batched"], results["naive"]
    ratio = tn / tb
    m = case.n_coalitions
    gflop = train_gflop(case.arch, x.shape[1:], masks, case.epochs)
    lines = [f"{case.name}: {m} coalitions x {case.epochs} epochs, {case.n_probes} probes, {gflop:.2f} GFLOP of training",
             _arm_line("batched engine", m, tb, gflop, peak, mb), _arm_line("naive loop", m, tn, gflop, peak, mn)]
    fused_over_generic = None
    if "generic" in results:
        tg, ug, mg = results["generic"]
        fused_over_generic = tg / tb
        lines.append(_arm_line("generic path", m, tg, gflop, peak, mg))
        lines.append(f"  fused / generic path {fused_over_generic:.1f}x on the same model; max |utility difference| "
                     f"{np.abs(ub - ug).max():.2e}")
    lines.append(f"  ratio {ratio:.1f}x; max |utility difference| {np.abs(ub - un).max():.2e} "
                 "(float rounding, amplified by long training)")
    print("\n".join(lines), flush=True)
    return CaseResult(ratio, 100 * gflop / tb / peak, fused_over_generic)


def _cases(quick: bool) -> list[Case]:
    """paper_cnn, digits_cnn (with the generic path forced as a third arm), residual_mlp (the generic path)."""
    epochs, digits_m, paper = (20, 192, Case("paper_cnn 1x28x28", "paper_cnn", 28, 2, 24, 200)) if quick else \
        (50, 512, Case("paper_cnn 1x28x28", "paper_cnn", 28, 50, 64, 1110))
    return [paper, Case("digits_cnn 1x8x8", "digits_cnn", 8, epochs, digits_m, 1110, ("batched", "naive", "generic")),
            Case("residual_mlp 1x8x8 (generic path)", "residual_mlp", 8, epochs, digits_m, 1110)]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (about a minute)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in each arm (default: torch's)")
    a = ap.parse_args(argv)
    import torch

    from fastdatashapley.base.registry import load_plugins

    load_plugins([str(PLUGIN)])
    peak = in_fresh_process(_matmul_peak, a.threads)
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s (torch.mm, {a.threads or torch.get_num_threads()} threads)", flush=True)
    paper, digits, generic = (run_case(c, a.threads, peak) for c in _cases(a.quick))
    print(f"generic: {generic.speedup:.1f}x over the naive loop (residual_mlp), "
          f"fused {digits.fused_over_generic:.1f}x over generic (digits_cnn)")
    print(f"efficiency: {paper.efficiency:.1f}% {digits.efficiency:.1f}%")
    print(f"speedup: {digits.speedup:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
