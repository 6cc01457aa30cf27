"""Benchmark: valuing one new sample with an explainer vs without one.

With an explainer, the values of all n training points for all m labels of a new image x are one forward
pass: ``Explainer.values(x)`` (input checks, service and null model on x, explainer net, efficient
normalisation). Latency does not depend on the weights, so the nets are untrained (zero-initialised head);
it is measured at batch 1 and batch 256 on the CPU (best of several runs, per sample).

Without an explainer, per-sample KernelSHAP for a new x needs the utilities v_x(s) of S coalitions:

1. retrain: train S sub-models with the batched engine (``training.train_submodels``), read their softmax
   on x, then solve KernelSHAP (``shapley.kernel_from_samples``). S = 2048 as in the default kernel design.
   The engine is timed on a measured subset of the coalitions and scaled linearly to S; the output says so.
2. stored: if the S sub-models of a utility table had been kept, evaluate them on x (a loop of
   ``predict_proba`` over their states, timed on the subset and scaled to S) and solve. Listed for
   fairness; the workflow does not keep sub-models.

Latency cases: digits (1x8x8, n = 100, m = 10, service ``digits_cnn`` trained 50 epochs: the default
config), and the input shapes of MNIST (1x28x28) and CIFAR-10 (3x32x32) with ``paper_cnn``. The cost
without an explainer is measured for digits (``digits_cnn``) and for 1x28x28 inputs with the paper's CNN
(digits upsampled to 28x28, n = 100, 50 epochs, batch 20, lr 1e-3).

    .venv/bin/python benchmarks/explainer.py [--quick] [--threads T] [--resnet]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import N, M, digits_service, latency, make_explainer, timed

from fastdatashapley.games.coalitions import kernel_masks
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.engine.service import ServiceModel, fit_service_model
from fastdatashapley.games import kernel_from_samples
from fastdatashapley.engine.training import TrainerSpec, init_state, predict_proba, train_models, train_submodels

S = 2048


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller measured retraining subset")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--resnet", action="store_true", help="also time the ResNet-50 explainer (slow on a CPU)")
    return ap.parse_args()


def latency_rows(nets: list[str], service: ServiceModel, x: np.ndarray, y: np.ndarray, new: np.ndarray,
                 repeats: int) -> list[tuple[str, str, dict[str, float]]]:
    """(input, net, :func:`latency`) for digits with the trained service, then MNIST and CIFAR-10 input shapes
    (``paper_cnn`` service, untrained weights: latency only)."""
    rows = [("digits 1x8x8", net, latency(make_explainer(net, service, x, y), new, repeats if net != "resnet50" else 5))
            for net in nets]
    rng = np.random.default_rng(0)
    for name, shape in (("mnist 1x28x28", (1, 28, 28)), ("cifar10 3x32x32", (3, 32, 32))):
        s = TrainerSpec("paper_cnn", shape, M)
        state = init_state(s, 0)
        svc = ServiceModel(s, state, state, 0)
        xt = rng.uniform(size=(N, *shape)).astype(np.float32)
        xn = rng.uniform(size=(256, *shape)).astype(np.float32)
        for net in nets:
            explainer = make_explainer(net, svc, xt, np.arange(N) % M)
            rows.append((name, net, latency(explainer, xn, repeats if net != "resnet50" else 3)))
    return rows


def print_latency(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    print(f"\nExplainer inference on the CPU (n = {N} training points, m = {M} labels; Explainer.values end to end)")
    print(f"{'input':<16} {'net':<11} {'batch 1 (best)':>15} {'batch 1 (median)':>17} {'batch 256 per sample':>21}")
    for name, net, r in rows:
        print(f"{name:<16} {net:<11} {r['batch1_ms']:>12.2f} ms {r['batch1_median_ms']:>14.2f} ms "
              f"{r['batch256_ms_per_sample']:>18.3f} ms")


def print_without_explainer(name: str, arch: str, r: dict[str, float], count: int, fds: float) -> None:
    """One case of :func:`without_explainer` against the FDS explainer's ``fds`` seconds per sample."""
    print(f"\nValuing one new {name} sample without an explainer ({arch}; "
          f"per-sample KernelSHAP over S = {S} coalitions)")
    print(f"  retrain S sub-models (50 epochs each): {r['retrain']:9.2f} s   "
          f"[EXTRAPOLATED: {count} coalitions measured in {r['retrain_measured']:.2f} s, scaled x{S / count:.0f}]")
    print(f"  KernelSHAP solve ({S} x {N}, {M} labels): {r['solve'] * 1e3:9.2f} ms (measured)")
    print(f"  total with retraining:                 {r['retrain'] + r['solve']:9.2f} s")
    print(f"  if the S sub-models were stored:       {r['stored'] + r['solve']:9.3f} s   "
          f"[EXTRAPOLATED: predict_proba {r['per_model'] * 1e3:.3f} ms per model, measured on 16, x{S}; + solve]")
    print(f"  FDS explainer (small_cnn, batch 1): {fds * 1e3:.2f} ms per sample")
    print(f"  speed-up vs retraining:        {(r['retrain'] + r['solve']) / fds:12,.0f}x")
    print(f"  speed-up vs stored sub-models: {(r['stored'] + r['solve']) / fds:12,.0f}x")


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 20 if args.quick else 100
    measured = 64 if args.quick else 256
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")

    ds, split, x, y, spec, service = digits_service()
    new = ds.x[split.rest[:256]]
    nets = ["small_cnn", "small_unet"] + (["resnet50"] if args.resnet else [])
    rows = latency_rows(nets, service, x, y, new, repeats)
    print_latency(rows)

    # -- without an explainer: digits, and 1x28x28 inputs with the paper's CNN (digits upsampled) ---------
    import torch.nn.functional as F

    x28 = F.interpolate(torch.from_numpy(ds.x), size=(28, 28), mode="bilinear", align_corners=False).numpy()
    spec28 = TrainerSpec("paper_cnn", (1, 28, 28), M, lr=1e-3, epochs=50, batch_size=20)
    service28 = fit_service_model(spec28, x28[split.train], y, seed=0, device="cpu")
    cases = [("digits 1x8x8", "digits_cnn", spec, service, x, new[:1], measured),
             ("mnist 1x28x28", "paper_cnn (digits upsampled)", spec28, service28, x28[split.train],
              x28[split.rest[:1]], max(16, measured // 4))]
    for name, arch, sp, svc, xs, probe, count in cases:
        r = without_explainer(sp, svc, xs, y, probe, count)
        fds = next(row for row_name, net, row in rows if row_name == name and net == "small_cnn")["batch1_ms"] / 1e3
        print_without_explainer(name, arch, r, count, fds)


def without_explainer(spec: TrainerSpec, service: ServiceModel, x: np.ndarray, y: np.ndarray, probe: np.ndarray,
                      measured: int) -> dict[str, float]:
    """Seconds to value ``probe [1, C, H, W]`` by per-sample KernelSHAP over S coalitions (module docstring)."""
    masks = kernel_masks(N, S, seed=0)
    t0 = time.perf_counter()
    util = train_submodels(spec, service.null_state, x, y, masks[:measured], probe, seed=0, device="cpu")
    retrain_measured = time.perf_counter() - t0
    full_util = np.resize(util[:, 0], (S, M))  # the solve's cost depends only on the shapes
    null, grand = service.null_proba(probe)[0], service.proba(probe)[0]
    solve = timed(lambda: kernel_from_samples(masks, full_util, null, grand), 5)[0]
    states = train_models(spec, service.null_state, x, y, masks[:16], seed=0, device="cpu")
    per_model = timed(lambda: [predict_proba(spec, st, probe) for st in states], 5)[0] / len(states)
    return {"retrain_measured": retrain_measured, "retrain": retrain_measured * S / measured, "solve": solve,
            "per_model": per_model, "stored": per_model * S}


if __name__ == "__main__":
    main()
