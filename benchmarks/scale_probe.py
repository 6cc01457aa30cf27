"""Probe: the cost of each kind of job of ``config/scale.yaml`` (digits, n = 1000), measured small, to set its budgets.

On the real digits split of the scale config (seed 0: D of 1000 points, 100 test samples, the rest as probes),
in this process with ``--threads`` torch threads, it times:

* ``service``: f_D, 50 epochs on all n points (the ``service_model`` job);
* ``full`` / ``approx``: the engine on 64 Shapley-kernel coalitions (mean size n / 2) read on P probes, at the
  service spec (50 epochs) and at the AFDS spec (K = 10 epochs at 10x lr): seconds per coalition, which times
  ``coalitions.kernel`` (and ``gfds``, ``gfds_plus``, ``lds``) gives a shard job's time;
* ``removal``: the engine on 64 coalitions that keep 80-99 % of D, read on the 100 test samples (the removal
  jobs: each per-sample method retrains n_test x len(etas) such coalitions);
* ``narrow``: the engine on 8 coalitions of size n / 2 (a TMC step at ``batch_permutations: 8``): a wide chunk
  is cheaper per model than a narrow one;
* ``group_testing_lp``: one of group testing's linear programs at n = 1000 (n (n - 1) sparse rows), and its closed
  form; ``freeshap``: the eNTK at n = 1000 and the per-sample KRR walk of 8 permutations;
* ``explainer``: 2 epochs of the FDS explainer (n x m outputs) on a made-up table of 2048 coalitions over the
  pool and validation probes (seconds per epoch; an epoch's cost depends on shapes, not values).

Prints one JSON object (seconds, and the peak RSS of the process in MiB). Used for docs/scale.md. The defaults
probe ``config/scale.yaml``; ``--dataset``, ``--n``, ``--downsample`` and the service options probe another
(``config/fashion-10k.yaml``: ``--dataset fashion-mnist --n 10000 --downsample 2 --arch digits_mlp --epochs 5
--batch-size 100 --lr 0.003``).

    .venv/bin/python benchmarks/scale_probe.py [--threads T] [--only full,removal,...] [--dataset D --n N ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np

N_TEST, N_POOL, N_VAL, SEED = 100, 500, 100, 0
PARTS = ("service", "full", "approx", "removal", "narrow", "group_testing_lp", "freeshap", "explainer")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: " + ",".join(PARTS))
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--n", type=int, default=1000, help="training points (split.n_train)")
    ap.add_argument("--downsample", type=int, default=1, help="data.downsample")
    ap.add_argument("--arch", default="digits_cnn")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    parts = args.only.split(",")
    N = args.n

    import torch

    torch.set_num_threads(args.threads)
    from fastdatashapley.games.coalitions import kernel_masks
    from fastdatashapley.data import POOL, VALIDATION, load_dataset, make_split
    from fastdatashapley.engine.retrainer import Retrainer
    from fastdatashapley.engine.service import accuracy, fit_service_model
    from fastdatashapley.engine.training import TrainerSpec

    out: dict[str, float] = {"threads": args.threads, "n": N, "dataset": args.dataset, "arch": args.arch}
    ds = load_dataset(args.dataset, downsample=args.downsample)
    split = make_split(ds, N, N_TEST, 0, SEED)
    x, y = ds.x[split.train], ds.y[split.train]
    x_test = ds.x[split.test]
    probes = ds.x[np.concatenate([split.rest[: N_POOL + N_VAL], split.test])]
    out["probes"] = len(probes)
    spec = TrainerSpec(in_shape=tuple(x.shape[1:]), n_classes=ds.n_classes, utility="last", arch=args.arch,
                       optimizer="adam", lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, weight_decay=0.0)
    t0 = time.perf_counter()
    service = fit_service_model(spec, x, y, seed=SEED, device="cpu")
    out["service_s"] = time.perf_counter() - t0
    out["service_accuracy_outside_d"] = accuracy(service, ds.x[split.rest], ds.y[split.rest])
    retr = Retrainer(spec, service.null_state, x, y, seed=SEED, device="cpu")
    masks = kernel_masks(N, 64, seed=0)
    out["kernel_mean_size"] = float(masks.sum(1).mean())

    def per_model(r: Retrainer, m: np.ndarray, p: np.ndarray) -> float:
        t = time.perf_counter()
        r.softmax(m, p)
        return (time.perf_counter() - t) / len(m)

    if "full" in parts:
        out["full_s_per_coalition"] = per_model(retr, masks, probes)
    if "approx" in parts:
        approx = Retrainer(spec.approx(10, 10.0, "last"), service.null_state, x, y, seed=SEED, device="cpu")
        out["approx_s_per_coalition"] = per_model(approx, masks, probes)
    rng = np.random.default_rng(1)
    if "removal" in parts:
        keep = np.ones((64, N), bool)
        for i, frac in enumerate(np.resize([0.01, 0.02, 0.05, 0.10, 0.20], 64)):
            keep[i, rng.choice(N, int(round(frac * N)), replace=False)] = False
        out["removal_s_per_coalition"] = per_model(retr, keep, x_test)
    if "narrow" in parts:
        half = np.zeros((8, N), bool)
        for i in range(8):
            half[i, rng.choice(N, N // 2, replace=False)] = True
        out["narrow8_s_per_coalition"] = per_model(retr, half, x_test)
        half64 = np.zeros((64, N), bool)
        for i in range(64):
            half64[i, rng.choice(N, N // 2, replace=False)] = True
        out["wide64_half_s_per_coalition"] = per_model(retr, half64, x_test)
    if "group_testing_lp" in parts:
        from fastdatashapley.games import group_testing_lp

        b = rng.standard_normal(N) * 1e-3
        t = time.perf_counter()
        group_testing_lp(b[:, None] - b[None, :], 0.5, epsilon=1e-3)
        out["group_testing_lp_s"] = time.perf_counter() - t
        out["rss_after_lp_mib"] = rss_mib()
    if "freeshap" in parts:
        from fastdatashapley.games.estimators.freeshap import FreeShapSettings, freeshap_values
        from fastdatashapley.games.ntk import ntk_kernels

        net = service.spec.build()
        net.load_state_dict(service.state)
        t = time.perf_counter()
        k_train, k_test = ntk_kernels(net, torch.from_numpy(x), torch.from_numpy(x_test), device="cpu")
        out["ntk_s"] = time.perf_counter() - t
        t = time.perf_counter()
        freeshap_values(k_train, k_test, y, ds.n_classes, 8, seed=0, settings=FreeShapSettings())
        out["freeshap_s_per_permutation"] = (time.perf_counter() - t) / 8
        out["rss_after_freeshap_mib"] = rss_mib()
    if "explainer" in parts:
        from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer
        from fastdatashapley.engine.utility_table import UtilityTable

        pv = probes[: N_POOL + N_VAL]
        null = service.null_proba(pv)
        util = null[None] + 0.01 * rng.standard_normal((2048, *null.shape)).astype(np.float32)
        table = UtilityTable(kernel_masks(N, 2048, seed=0), util, null, service.proba(pv), np.arange(len(pv)))
        role = np.r_[np.full(N_POOL, POOL), np.full(N_VAL, VALIDATION)]
        settings = ExplainerSettings(lr=1e-3, batch_size=32, coalitions_per_x=32, max_epochs=2, patience=3,
                                     device="cpu", seed=0)
        ex = fit_explainer(table, pv, role, service, x, y, method="fds", settings=settings)
        out["explainer_s_per_epoch"] = ex.history[-1]["seconds"] / len(ex.history)
    out["peak_rss_mib"] = rss_mib()
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
