"""Relative error of KernelSHAP, TMC and group testing against exact values at equal utility-evaluation budgets.

Budget B counts every utility evaluation, v(0) and v(D) included: KernelSHAP and group testing draw B - 2
coalitions; TMC runs the largest number of permutations whose evaluations fit in B (found by bisection;
the permutation stream is seeded, so evaluations grow with the count), once with truncation off
(tolerance 0) and once with the paper's 1 % tolerance. Errors are ||phi - phi*||_2 / ||phi*||_2, the mean
over seeds 0, 1, 2.

Games (truth):
* n = 12 "tanh+majority": tanh of a weighted sum plus a majority vote, interactions of every order (exact enumeration).
* n = 12 and n = 100 "unanimity": dividends c_T on 150 random carriers T of 1..4 players,
  v(S) = sum_T c_T [T ⊆ S], phi_i = sum_{T ∋ i} c_T / |T| (closed form).
* n = 100 "pairwise": v(S) = sum a_i + sum_{i<j} b_ij, phi_i = a_i + 1/2 sum_j b_ij (paired KernelSHAP is exact).
* n = 100 "airport": v(S) = max_{i in S} c_i, closed form by sorted increments (one dominant player).

Run: .venv/bin/python benchmarks/estimators.py
"""

from __future__ import annotations

import time

import numpy as np

from fastdatashapley import games as S

SEEDS = (0, 1, 2)


def unanimity(n: int, n_carriers: int = 150, max_size: int = 4, seed: int = 0):
    g = np.random.default_rng(seed)
    member = np.zeros((n_carriers, n))
    for r, k in enumerate(g.integers(1, max_size + 1, size=n_carriers)):
        member[r, g.choice(n, size=k, replace=False)] = 1
    coef = g.uniform(0.2, 1.0, size=n_carriers)
    sizes = member.sum(1)
    return (lambda m: ((np.asarray(m, float) @ member.T) == sizes) @ coef), member.T @ (coef / sizes)


def pairwise(n: int, seed: int = 0):
    g = np.random.default_rng(seed)
    a, b = g.normal(size=n), g.normal(size=(n, n)) / np.sqrt(n)
    b = (b + b.T) / 2
    np.fill_diagonal(b, 0)

    def utility(m):
        s = np.asarray(m, float)
        return s @ a + 0.5 * np.einsum("ki,ij,kj->k", s, b, s)

    return utility, a + 0.5 * b.sum(1)


def airport(n: int, seed: int = 0):
    c = np.random.default_rng(seed).uniform(size=n)
    order = np.argsort(c)
    phi = np.empty(n)
    phi[order] = np.cumsum(np.diff(np.concatenate([[0.0], c[order]])) / (n - np.arange(n)))
    return (lambda m: np.where(np.asarray(m, bool), c[None], 0.0).max(1)), phi


def tanh_majority(n: int, seed: int = 0):
    a = np.random.default_rng(seed).normal(size=n)

    def utility(m):
        m = np.asarray(m, float)
        return np.tanh(m @ a / 2) + (m.sum(1) >= n // 2)

    return utility, S.exact(utility, n)


def games():
    yield "tanh+majority", 12, *tanh_majority(12), (256, 1024, 4096)
    yield "unanimity", 12, *unanimity(12, 30), (256, 1024, 4096)
    for name, make in (("pairwise", pairwise), ("unanimity", unanimity), ("airport", airport)):
        yield name, 100, *make(100), (2000, 8000, 32000)


def tmc_at_budget(utility, n: int, budget: int, tolerance: float, seed: int) -> tuple[np.ndarray, int]:
    """TMC with as many permutations as fit in ``budget`` evaluations (convergence stop off)."""

    def run(p):
        return S.tmc(utility, n, p, tolerance=tolerance, stop=S.TMCStop(convergence=0.0), batch_permutations=256,
                     seed=seed, return_count=True)

    lo, best = 1, run(1)
    if best[1][1] > budget:
        return best[0], best[1][1]
    p = max(1, (budget - 2) // (n - 1))
    while (res := run(p))[1][1] <= budget:  # grow by the observed evaluations per permutation
        lo, best = p, res
        per_permutation = max(1.0, (res[1][1] - 2) / p)
        p = max(p + 1, int((budget - 2) / per_permutation) + 1)
    hi = p
    while hi - lo > 1:
        mid = (lo + hi) // 2
        res = run(mid)
        if res[1][1] <= budget:
            lo, best = mid, res
        else:
            hi = mid
    return best[0], best[1][1]


def main() -> None:
    methods = ("kernel", "tmc", "tmc 1%", "group_testing")
    header = f"{'game':<14} {'n':>4} {'budget':>7} " + " ".join(f"{m:>15}" for m in methods)
    print("relative L2 error vs exact (mean over seeds 0-2); TMC evaluations used in brackets")
    print(header)
    print("-" * len(header))
    t0 = time.perf_counter()
    for name, n, u, truth, budgets in games():
        for budget in budgets:
            errs = {m: [] for m in methods}
            used = {"tmc": [], "tmc 1%": []}
            for seed in SEEDS:
                errs["kernel"].append(S.kernel(u, n, budget - 2, seed=seed))
                for label, tol in (("tmc", 0.0), ("tmc 1%", 0.01)):
                    est, evals = tmc_at_budget(u, n, budget, tol, seed)
                    errs[label].append(est)
                    used[label].append(evals)
                errs["group_testing"].append(S.group_testing(u, n, budget - 2, seed=seed, solver="closed_form"))
            cells = []
            for m in methods:
                e = np.mean([np.linalg.norm(v - truth) / np.linalg.norm(truth) for v in errs[m]])
                extra = f" [{int(np.mean(used[m]))}]" if m in used else ""
                cells.append(f"{e:.4f}{extra}")
            print(f"{name:<14} {n:>4} {budget:>7} " + " ".join(f"{c:>15}" for c in cells))
    print(f"\n({time.perf_counter() - t0:.1f} s; group testing via its closed form, equal to the LP solution)")


if __name__ == "__main__":
    main()
