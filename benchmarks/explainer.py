"""Explainer inference latency vs valuing one new sample without an explainer (per-sample KernelSHAP).

Without an explainer, a new sample x needs its own utilities: retraining S sub-models (here S = 2048, the
default kernel design) and one KernelSHAP solve. The engine's retraining time is measured on 256 coalitions
and scaled linearly to S (labelled as such). The explainer is an untrained SmallCNN of the default size
(n = 100, m = 10, digits input): latency does not depend on the weights.
Run: .venv/bin/python benchmarks/explainer.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fastdatashapley.coalitions import kernel_masks
from fastdatashapley.data import load_dataset, make_split
from fastdatashapley.explainer import Explainer, build_net
from fastdatashapley.service import fit_service_model
from fastdatashapley.shapley import kernel_from_samples
from fastdatashapley.training import TrainerSpec, train_submodels


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and coalitions")
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = load_dataset("digits")
    split = make_split(ds, 100, 10, 0, seed=0)
    x, y = ds.x[split.train], ds.y[split.train]
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 10, lr=1e-3, epochs=50, batch_size=20)
    service = fit_service_model(spec, x, y, seed=0, device="cpu")
    explainer = Explainer(build_net("small_cnn", 1, 100, 10), "small_cnn", "fds", service, x, y)
    probe = ds.x[split.test[:1]]
    batch = ds.x[split.rest[:256]]
    explainer.values(probe)  # warm-up
    repeats = 5 if args.quick else 20
    t1 = best_of(lambda: explainer.values(probe), repeats)
    t256 = best_of(lambda: explainer.values(batch), max(2, repeats // 4))
    print(f"explainer inference, batch 1:   {t1 * 1e3:8.2f} ms per sample")
    print(f"explainer inference, batch 256: {t256 / 256 * 1e3:8.3f} ms per sample ({t256 * 1e3:.1f} ms per batch)")

    measured, total = (128 if args.quick else 256), 2048
    masks = kernel_masks(100, total, seed=0)
    t0 = time.perf_counter()
    util = train_submodels(spec, service.null_state, x, y, masks[:measured], probe, seed=0, device="cpu")
    retrain = (time.perf_counter() - t0) * total / measured
    null, grand = service.null_proba(probe), service.proba(probe)
    t0 = time.perf_counter()
    kernel_from_samples(masks[:measured], util[:, 0], null[0], grand[0])
    solve = time.perf_counter() - t0
    without = retrain + solve
    print(f"per-sample KernelSHAP without an explainer: {without:8.2f} s "
          f"(retraining {total} sub-models: {retrain:.2f} s, scaled from {measured} measured; solve {solve * 1e3:.1f} ms)")
    print(f"speedup: {without / t1:.0f}x")


if __name__ == "__main__":
    main()
