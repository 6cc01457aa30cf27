"""Benchmark: the one-call API on a table of your own, at n = 1,000 training rows.

A synthetic two-class table (scikit-learn ``make_classification``: 12 features, 6 informative, 20 providers owning
every 20th row), standardised on its training rows as the workflow does, goes through
:func:`fastdatashapley.workflow.arrays.fit_explainer_from_arrays` with the default MLP service model settings of
``config/breast_cancer.yaml`` (``digits_mlp``, 20 epochs, lr 0.01, batch 50) and the schema's default explainer,
``budget`` kernel coalitions (default 2048). Prints the wall time of the call, the explainer's epochs, the peak
resident memory of this process, the seconds for valuing 100 new rows in one forward pass, and the top provider's
payment out of 100 for the first of them. Times vary with the machine and its load; the values are deterministic
under the seed (same machine, same thread count).

    python benchmarks/own_table.py [--n 1000] [--budget 2048]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from sklearn.datasets import make_classification

from fastdatashapley.workflow.arrays import fit_explainer_from_arrays


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="training rows (default 1000)")
    ap.add_argument("--budget", type=int, default=2048, help="kernel coalitions retrained (default 2048)")
    args = ap.parse_args()
    n, pool, new = args.n, 500, 100
    x, y = make_classification(n + pool + new, n_features=12, n_informative=6, class_sep=1.0, random_state=0)
    mean, std = x[:n].mean(0), x[:n].std(0)
    x = ((x - mean) / std).astype(np.float32)
    providers = [f"provider-{i % 20:02d}" for i in range(n)]
    t0 = time.perf_counter()
    explainer = fit_explainer_from_arrays(
        x[:n], y[:n], x[n:n + pool], budget=args.budget, providers=providers,
        service={"arch": "digits_mlp", "epochs": 20, "lr": 0.01, "batch_size": 50}, device="cpu", progress=False)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    values = explainer.values(x[n + pool:])
    value_s = time.perf_counter() - t0
    paid = explainer.pay(x[n + pool], 100.0, negative="clip")
    top = max(paid, key=paid.get)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"n = {n} rows, {len(set(providers))} providers, budget {args.budget}: fit {fit_s:.1f} s "
          f"({len(explainer.history)} explainer epochs), peak RSS {rss:.2f} GiB")
    print(f"values of {len(values)} new rows [B, n, m] = {list(values.shape)}: {value_s * 1000:.0f} ms; "
          f"top provider of row 0: {top} gets {paid[top]:.2f} of 100")


if __name__ == "__main__":
    main()
