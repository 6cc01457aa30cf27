"""Benchmark: the batched retraining engine against a naive loop of single-model training.

Both arms train the *same* coalitions (Shapley-kernel sizes, uniform subsets) with the same initial
weights, data order, epochs and probes, and return the same utilities ``[M, P, m]``:

1. batched: :func:`fastdatashapley.training.train_submodels` (all coalitions at once, chunked);
2. naive:   :func:`fastdatashapley.training.train_single` one coalition at a time, then ``predict_proba`` on the probes.

Each arm runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is its own.
Cases: ``digits_cnn`` on scikit-learn digits (n=100, 50 epochs, batch 20, lr 1e-3) and ``paper_cnn`` on
1x28x28 inputs (digits upsampled, n=100). ``--quick`` shrinks epochs and counts to finish in under a minute.

    python benchmarks/engine.py [--quick] [--threads T]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from dataclasses import dataclass

import numpy as np


@dataclass
class Case:
    name: str
    arch: str
    size: int  # image side
    epochs: int
    n_coalitions: int
    n_probes: int


def _data(size: int, n: int, n_probes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced training set of n digits and n_probes other digits, float32 [N, 1, size, size] in [0, 1]."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(np.flatnonzero(y == c), n // 10, replace=False) for c in range(10)])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), train))[:n_probes]
    if size != 8:
        x = F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False).numpy()
    return x[train], y[train], x[rest]


def _kernel_masks(m: int, n: int, seed: int = 1) -> np.ndarray:
    """m coalitions: size k ~ 1/(k(n-k)) on 1..n-1 (Shapley kernel), then a uniform subset of that size."""
    rng = np.random.default_rng(seed)
    k = np.arange(1, n)
    w = 1.0 / (k * (n - k))
    sizes = rng.choice(k, size=m, p=w / w.sum())
    masks = np.zeros((m, n), bool)
    for i, s in enumerate(sizes):
        masks[i, rng.choice(n, s, replace=False)] = True
    return masks


def _arm(args: tuple) -> tuple[float, np.ndarray, float]:
    """Run one arm in this (fresh) process: (seconds, utilities [M, P, m], peak RSS in MiB)."""
    which, case, threads, x, y, probes, masks = args
    import torch

    from fastdatashapley.training import TrainerSpec, init_state, predict_proba, train_single, train_submodels

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


def run_case(case: Case, threads: int | None) -> float:
    ctx = mp.get_context("spawn")
    x, y, probes = _data(case.size, 100, case.n_probes)
    masks = _kernel_masks(case.n_coalitions, len(y))
    results = {}
    for which in ("batched", "naive"):
        pool = ctx.Pool(1)
        try:
            results[which] = pool.apply(_arm, ((which, case, threads, x, y, probes, masks),))
        finally:
            pool.close()  # close + join (not terminate) so no semaphore is left behind
            pool.join()
    (tb, ub, mb), (tn, un, mn) = results["batched"], results["naive"]
    ratio = tn / tb
    m = case.n_coalitions
    print(
        f"{case.name}: {m} coalitions x {case.epochs} epochs, {case.n_probes} probes\n"
        f"  batched engine: {m / tb:8.2f} coalitions/s  ({tb:7.2f} s)  peak RSS {mb:7.0f} MiB\n"
        f"  naive loop:     {m / tn:8.2f} coalitions/s  ({tn:7.2f} s)  peak RSS {mn:7.0f} MiB\n"
        f"  ratio {ratio:.1f}x; max |utility difference| {np.abs(ub - un).max():.2e} "
        "(float rounding, amplified by long training)",
        flush=True,
    )
    return ratio


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small run (< 60 s)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in each arm (default: torch's)")
    a = ap.parse_args(argv)
    if a.quick:
        cases = [Case("paper_cnn 1x28x28", "paper_cnn", 28, 2, 24, 200), Case("digits_cnn 1x8x8", "digits_cnn", 8, 20, 192, 1110)]
    else:
        cases = [Case("paper_cnn 1x28x28", "paper_cnn", 28, 50, 64, 1110), Case("digits_cnn 1x8x8", "digits_cnn", 8, 50, 512, 1110)]
    ratios = [run_case(c, a.threads) for c in cases]
    print(f"speedup: {ratios[-1]:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
