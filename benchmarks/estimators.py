"""Relative error of KernelSHAP, TMC and group testing against exact values, at equal utility-evaluation budgets.

Games: n = 12, a game with interactions of every order (tanh of a weighted sum plus a majority vote; truth by
exact enumeration); n = 100, an additive game plus a symmetric majority game (closed form phi_i = w_i + 1/n).
Run: .venv/bin/python benchmarks/estimators.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from games import additive, majority  # noqa: E402

from fastdatashapley import shapley as S  # noqa: E402


def counted(utility):
    """Wrap a utility to count evaluated masks."""

    def f(masks):
        f.calls += len(masks)
        return utility(masks)

    f.calls = 0
    return f


def games():
    n = 12
    a = np.random.default_rng(0).normal(size=n)

    def u12(m):
        m = np.asarray(m, float)
        return np.tanh(m @ a / 2) + (m.sum(1) >= n // 2)

    yield "n=12 tanh+majority", n, u12, S.exact(u12, n)
    n = 100
    ua, w = additive(np.random.default_rng(7).normal(size=n) * 0.05)
    um, sym = majority(n, 50)
    yield "n=100 additive+majority", n, lambda m: ua(m) + um(m), w + sym


def main() -> None:
    print(f"{'game':<26} {'budget':>7} {'kernel':>8} {'tmc':>8} {'gt':>8}   (relative L2 error; evaluations used)")
    for name, n, u, truth in games():
        for budget in (500, 2000, 8000, 32000):
            errs, used = [], []
            for est in ("kernel", "tmc", "gt"):
                f = counted(u)
                if est == "kernel":
                    phi = S.kernel(f, n, budget, seed=1)
                elif est == "tmc":
                    phi = S.tmc(f, n, max(1, budget // (n - 1)), tolerance=0.0, convergence=0.0, seed=1)
                else:
                    phi = S.group_testing(f, n, budget, seed=1)
                errs.append(np.linalg.norm(phi - truth) / np.linalg.norm(truth))
                used.append(f.calls)
            print(f"{name:<26} {budget:>7} " + " ".join(f"{e:>8.4f}" for e in errs) + f"   ({', '.join(map(str, used))})")


if __name__ == "__main__":
    main()
