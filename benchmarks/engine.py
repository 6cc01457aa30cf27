"""Benchmark: the batched retraining engine against a naive loop of single-model training.

Both arms train the *same* coalitions (Shapley-kernel sizes, uniform subsets) with the same initial
weights, data order, epochs and probes, and return the same utilities ``[M, P, m]``:

1. batched: :func:`fastdatashapley.engine.training.train_submodels` (all coalitions at once, chunked);
2. naive:   :func:`fastdatashapley.engine.training.train_single` one coalition at a time, then ``predict_proba`` on the probes.

Each arm runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its own.
Cases: ``digits_cnn`` on scikit-learn digits (n=100, 50 epochs, batch 20, lr 1e-3) and ``paper_cnn`` on
1x28x28 inputs (digits upsampled, n=100). ``--quick`` shrinks epochs and counts to finish in under a minute.

Efficiency: each arm's GFLOP/s is the training work it did divided by its wall time, against a dense float32
matmul peak measured in the same run, in a fresh process with the same torch thread count (best GFLOP/s of
``torch.mm`` on square matrices of 1024, 2048 and 4096). Training work counts, per image a coalition really
trains on (its members, once per epoch; padding rows are not counted), the conv / linear MACs of the arch
times 2 for the forward pass and about 2x that for the backward (weight gradients, and input gradients for
every layer but the first): ``6 F - 2 F_first`` FLOPs, see :mod:`fastdatashapley.engine.training.flops`. Biases,
ReLU, pooling, the loss, the optimiser and the probe predictions are not counted (the wall time includes
them), so the figure is a lower bound on the arithmetic rate. The last two lines are
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

import numpy as np
from _common import bench_masks, digits_arrays, in_fresh_process


@dataclass
class Case:
    name: str
    arch: str
    size: int  # image side
    epochs: int
    n_coalitions: int
    n_probes: int


def _arm(args: tuple) -> tuple[float, np.ndarray, float]:
    """Run one arm in this (fresh) process: (seconds, utilities [M, P, m], peak RSS in MiB)."""
    which, case, threads, x, y, probes, masks = args
    import torch

    from fastdatashapley.engine.training import TrainerSpec, init_state, predict_proba, train_single, train_submodels

    if threads:
        torch.set_num_threads(threads)
    spec = TrainerSpec(case.arch, x.shape[1:], 10, lr=1e-3, epochs=case.epochs, batch_size=20)
    init = init_state(spec, 0)
    t0 = time.perf_counter()
    if which == "batched":
        u = train_submodels(spec, init, x, y, masks, probes, seed=0, device="cpu")
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


def run_case(case: Case, threads: int | None, peak: float) -> tuple[float, float]:
    """Run both arms of ``case``, print their lines; return (naive / batched time, batched % of ``peak`` GFLOP/s)."""
    x, y, probes = digits_arrays(case.size, 100, case.n_probes)
    masks = bench_masks(case.n_coalitions, len(y))
    results = {which: in_fresh_process(_arm, (which, case, threads, x, y, probes, masks)) for which in ("batched", "naive")}
    (tb, ub, mb), (tn, un, mn) = results["batched"], results["naive"]
    ratio = tn / tb
    m = case.n_coalitions
    gflop = train_gflop(case.arch, x.shape[1:], masks, case.epochs)
    print(
        f"{case.name}: {m} coalitions x {case.epochs} epochs, {case.n_probes} probes, {gflop:.2f} GFLOP of training\n"
        f"  batched engine: {m / tb:8.2f} coalitions/s  ({tb:7.2f} s)  {gflop / tb:6.2f} GFLOP/s"
        f" ({100 * gflop / tb / peak:5.1f}% of peak)  peak RSS {mb:7.0f} MiB\n"
        f"  naive loop:     {m / tn:8.2f} coalitions/s  ({tn:7.2f} s)  {gflop / tn:6.2f} GFLOP/s"
        f" ({100 * gflop / tn / peak:5.1f}% of peak)  peak RSS {mn:7.0f} MiB\n"
        f"  ratio {ratio:.1f}x; max |utility difference| {np.abs(ub - un).max():.2e} "
        "(float rounding, amplified by long training)",
        flush=True,
    )
    return ratio, 100 * gflop / tb / peak


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (< 60 s)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in each arm (default: torch's)")
    a = ap.parse_args(argv)
    if a.quick:
        cases = [Case("paper_cnn 1x28x28", "paper_cnn", 28, 2, 24, 200), Case("digits_cnn 1x8x8", "digits_cnn", 8, 20, 192, 1110)]
    else:
        cases = [Case("paper_cnn 1x28x28", "paper_cnn", 28, 50, 64, 1110), Case("digits_cnn 1x8x8", "digits_cnn", 8, 50, 512, 1110)]
    import torch

    peak = in_fresh_process(_matmul_peak, a.threads)
    print(f"float32 matmul peak: {peak:.1f} GFLOP/s (torch.mm, {a.threads or torch.get_num_threads()} threads)", flush=True)
    results = [run_case(c, a.threads, peak) for c in cases]
    print(f"efficiency: {results[0][1]:.1f}% {results[1][1]:.1f}%")
    print(f"speedup: {results[-1][0]:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
