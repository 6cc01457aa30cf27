"""Fixtures the benchmarks share: the digits problem, the engine benchmark's coalitions, a timer, an explainer's
latency, and a measurement in a fresh process. Import as ``import _common`` (benchmarks run from this folder)."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import torch

from fastdatashapley.data import load_dataset, make_split
from fastdatashapley.engine.service import ServiceModel, fit_service_model
from fastdatashapley.engine.training import TrainerSpec
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.explainers.nets import build_net, net_config

#: The default config's problem: n training points, m classes.
N, M = 100, 10


def digits_arrays(size: int, n: int, n_probes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def bench_masks(m: int, n: int, seed: int = 1) -> np.ndarray:
    """m coalitions: size k ~ 1/(k(n-k)) on 1..n-1 (Shapley kernel), then a uniform subset of that size."""
    rng = np.random.default_rng(seed)
    k = np.arange(1, n)
    w = 1.0 / (k * (n - k))
    sizes = rng.choice(k, size=m, p=w / w.sum())
    masks = np.zeros((m, n), bool)
    for i, s in enumerate(sizes):
        masks[i, rng.choice(n, s, replace=False)] = True
    return masks


def in_fresh_process(fn, *args):  # type: ignore[no-untyped-def]
    """``fn(*args)`` in a spawned single-worker pool (its own threads and peak RSS)."""
    pool = mp.get_context("spawn").Pool(1)
    try:
        return pool.apply(fn, args)
    finally:
        pool.close()  # close + join (not terminate) so no semaphore is left behind
        pool.join()


def timed(fn, repeats: int) -> tuple[float, float]:
    """(best, median) wall seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def latency(explainer: Explainer, x: np.ndarray, repeats: int) -> dict[str, float]:
    b1 = timed(lambda: explainer.values(x[:1]), repeats)
    b256 = timed(lambda: explainer.values(x[:256]), max(3, repeats // 10))
    return {"batch1_ms": b1[0] * 1e3, "batch1_median_ms": b1[1] * 1e3, "batch256_ms_per_sample": b256[0] / 256 * 1e3}


def make_explainer(net: str, service: ServiceModel, x_train: np.ndarray, y_train: np.ndarray) -> Explainer:
    cfg = net_config(net, service.spec.in_shape, len(y_train), service.spec.n_classes)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build_net(cfg)
    return Explainer(model, cfg, "fds", service, x_train, y_train)


def digits_service():
    """The default config's problem: (digits, split, x_train ``[N, 1, 8, 8]``, y_train ``[N]``, spec, service)."""
    ds = load_dataset("digits")
    split = make_split(ds, N, 10, 0, seed=0)
    x, y = ds.x[split.train], ds.y[split.train]
    spec = TrainerSpec("digits_cnn", (1, 8, 8), M, lr=1e-3, epochs=50, batch_size=20)
    return ds, split, x, y, spec, fit_service_model(spec, x, y, seed=0, device="cpu")
