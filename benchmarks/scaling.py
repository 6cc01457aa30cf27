"""Benchmark: how every cost of Fast-DataShapley grows with the number of training points n.

Data: synthetic 1x8x8 images in [0, 1], 10 classes, each class a Gaussian blob at its own position plus
uniform noise (:func:`blobs`); labels balanced. For each n (100, 300, 1000, 3000, 10000; ``--quick``: 100, 300,
1000), in a fresh spawned process (so that its peak resident memory, ``ru_maxrss``, is its own):

1. **retraining**: the batched engine (``training.train_submodels``) on a fixed number of Shapley-kernel
   coalitions (``coalitions.kernel_masks``; their sizes scale with n, mean about n / 2) with the default
   config's service model ``digits_cnn`` (Adam, lr 1e-3, batch 20) for a fixed, small number of epochs, read
   on the table's probes; seconds per coalition (after a small warm-up run).
2. **utility table bytes**: a :class:`~fastdatashapley.engine.utility_table.UtilityTable` of fixed S coalitions and P
   probes is built and the ``nbytes`` of its arrays summed (masks ``[S, n]`` bool, utilities ``[S, P, m]``,
   null and grand ``[P, m]`` float32, probe ids ``[P]`` int64). Its utilities are MADE UP (the null model's
   softmax plus noise): an explainer's training cost depends on the table's shapes, not on its values.
3. **explainer training**: ``fit_explainer`` (``small_cnn``, n x m outputs; lr 1e-3, batch 32, 32 coalitions
   per probe as in the default config) for a couple of epochs on that table; seconds per epoch (pool pass plus
   the validation loss). The service model is untrained (its weights do not change any cost).
4. **latency**: ``Explainer.values`` at batch 1 (best of several runs) and at batch 256 (per sample), as
   ``benchmarks/explainer.py`` times it; at batch 1 also the explainer net alone and its last linear layer
   (hidden -> n m) alone, to show what dominates.
5. **memory**: peak RSS of the process (MiB; of which the n-dependent part above the RSS after imports, data
   and a warm-up), and the explainer's parameter bytes.

Then one row per n, the log-log slope (least squares of log y on log n) of each quantity, and the goals:
per-coalition retraining at most linear in n (slope <= 1.1), explainer latency at batch 1 <= 5 ms at n = 10,000,
and every memory figure linear in its inputs (the table's bytes equal to the array sizes; the n-dependent part
of the others with slope <= 1.1 on log(y - y_0) against log(n - n_0), which is 1 for any affine y). The
figure (log-log, each quantity over its value at the smallest n) goes to ``benchmarks/out/scaling.png``.

Wall time on the 2-core development CPU while another job's tests used the cores: with ``--threads 1``,
``--quick`` 15 s and the full run 67-68 s. At torch's default 2 threads the two jobs fight over the cores:
``--quick`` took 56 s and the full run 293 s, with engine and latency figures up to 50x too slow at some n (so
the slopes are meaningless). On a shared machine pass ``--threads 1``. The slope over the whole range
understates the asymptotic growth (fixed per-step and per-call costs dominate at small n); the slope between the
two largest n is printed too.

    .venv/bin/python benchmarks/scaling.py [--quick] [--threads T]
"""

from __future__ import annotations

import argparse
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from _common import in_fresh_process, latency, timed

M, SIDE = 10, 8
OUT = Path(__file__).resolve().parent / "out" / "scaling.png"
#: Quantities of a row: key -> (label, unit, is a memory figure).
QUANTITIES = {
    "retrain_s": ("retraining per coalition", "s", False),
    "table_bytes": ("utility table", "bytes", True),
    "explainer_epoch_s": ("explainer training per epoch", "s", False),
    "latency1_ms": ("Explainer.values, batch 1", "ms", False),
    "latency256_ms": ("Explainer.values, batch 256 (per sample)", "ms", False),
    "params_bytes": ("explainer parameters", "bytes", True),
    "rss_extra_mib": ("peak RSS above baseline", "MiB", True),
}
SLOPE_GOAL, LATENCY_GOAL_MS, LATENCY_GOAL_N = 1.1, 5.0, 10_000


@dataclass(frozen=True)
class Config:
    """Fixed counts of a run: engine coalitions and epochs, the table's S and probes (pool + validation),
    explainer epochs and latency repeats."""

    ns: tuple[int, ...]
    coalitions: int
    epochs: int
    table_coalitions: int
    pool: int
    validation: int
    explainer_epochs: int
    repeats: int

    @property
    def probes(self) -> int:
        return self.pool + self.validation


FULL = Config((100, 300, 1000, 3000, 10_000), 64, 5, 2048, 1000, 100, 2, 30)
QUICK = Config((100, 300, 1000), 32, 3, 512, 200, 20, 2, 10)


def blobs(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images float32 ``[count, 1, 8, 8]`` in [0, 1] and balanced labels int64 ``[count]``: class c is a
    Gaussian blob (sd 1.2 px) centred on its own point of a ring, times 0.8, plus uniform noise in [0, 0.3)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(count) % M)
    angle = 2 * np.pi * np.arange(M) / M
    centre = 3.5 + 2.5 * np.stack([np.cos(angle), np.sin(angle)], 1)  # [M, 2] in pixels
    grid = np.arange(SIDE, dtype=np.float64)
    d2 = (grid[None, :, None] - centre[y, 0, None, None]) ** 2 + (grid[None, None, :] - centre[y, 1, None, None]) ** 2
    x = 0.8 * np.exp(-d2 / (2 * 1.2**2)) + 0.3 * rng.random((count, SIDE, SIDE))
    return np.clip(x, 0, 1).astype(np.float32)[:, None], y.astype(np.int64)


def table_nbytes(table) -> int:  # type: ignore[no-untyped-def]
    """Bytes of a UtilityTable's arrays (masks, utilities, null, grand, probe_ids), as allocated."""
    return int(sum(a.nbytes for a in (table.masks, table.utilities, table.null, table.grand, table.probe_ids)))


def loglog_slope(n: np.ndarray, y: np.ndarray) -> float:
    """Exponent b of the least-squares fit log y = a + b log n (y > 0)."""
    return float(np.polyfit(np.log(np.asarray(n, float)), np.log(np.asarray(y, float)), 1)[0])


def increment_slope(n: np.ndarray, y: np.ndarray) -> float:
    """Slope of the n-dependent part: log-log fit of ``y - y[0]`` on ``n - n[0]`` over the points where y grew
    (1 for any affine y = a + b n with b > 0; NaN with fewer than two such points)."""
    n, y = np.asarray(n, float), np.asarray(y, float)
    dn, dy = n[1:] - n[0], y[1:] - y[0]
    keep = (dn > 0) & (dy > 0)
    return loglog_slope(dn[keep], dy[keep]) if keep.sum() >= 2 else float("nan")


def _rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def made_up_table(service, probes: np.ndarray, n: int, s: int, seed: int = 0):  # type: ignore[no-untyped-def]
    """A UtilityTable over Shapley-kernel masks ``[s, n]`` with utilities ``[s, P, m]`` = the null model's softmax
    plus noise (MADE UP: right shapes and dtypes, meaningless values); null = grand = the null model's softmax."""
    from fastdatashapley.games.coalitions import kernel_masks
    from fastdatashapley.engine.utility_table import UtilityTable

    rng = np.random.default_rng(seed)
    null = service.null_proba(probes)
    util = null[None] + 0.01 * rng.standard_normal((s, *null.shape), dtype=np.float32)
    return UtilityTable(kernel_masks(n, s, seed=seed), util, null, null, np.arange(len(probes)))


def measure(n: int, cfg: Config, threads: int | None) -> dict[str, float]:
    """All quantities for one n, run in this (fresh) process; see the module docstring."""
    import torch
    from torch import nn

    from fastdatashapley.games.coalitions import kernel_masks
    from fastdatashapley.data import POOL, VALIDATION
    from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer
    from fastdatashapley.engine.service import ServiceModel
    from fastdatashapley.engine.training import TrainerSpec, init_state, train_submodels

    if threads:
        torch.set_num_threads(threads)
    t_start = time.perf_counter()
    x, y = blobs(n, seed=0)
    probes, new = blobs(cfg.probes, seed=1)[0], blobs(256, seed=2)[0]
    spec = TrainerSpec("digits_cnn", (1, SIDE, SIDE), M, lr=1e-3, epochs=cfg.epochs, batch_size=20)
    init = init_state(spec, 0)
    masks = kernel_masks(n, cfg.coalitions, seed=0)
    warm = np.zeros((2, n), bool)
    warm[:, :40] = True
    train_submodels(spec, init, x, y, warm, probes[:16], seed=0, device="cpu")  # first-call allocations
    base = _rss_mib()

    t0 = time.perf_counter()
    train_submodels(spec, init, x, y, masks, probes, seed=0, device="cpu")
    retrain = (time.perf_counter() - t0) / len(masks)
    rss_engine = _rss_mib()

    service = ServiceModel(spec, init, init, 0)  # untrained: no cost depends on its weights
    table = made_up_table(service, probes, n, cfg.table_coalitions)
    role = np.r_[np.full(cfg.pool, POOL), np.full(cfg.validation, VALIDATION)]
    e = cfg.explainer_epochs
    settings = ExplainerSettings(lr=1e-3, batch_size=32, coalitions_per_x=32, max_epochs=e, patience=e + 1,
                                 device="cpu", seed=0)
    explainer = fit_explainer(table, probes, role, service, x, y, method="fds", settings=settings)
    per_epoch = explainer.history[-1]["seconds"] / len(explainer.history)

    lat = latency(explainer, new, cfg.repeats)
    x1 = torch.from_numpy(new[:1])
    head: nn.Linear = explainer.net.head.fc2
    h1 = torch.zeros(1, head.in_features)
    with torch.no_grad():
        net_ms = timed(lambda: explainer.net(x1), cfg.repeats)[0] * 1e3
        head_ms = timed(lambda: head(h1), cfg.repeats)[0] * 1e3
    peak = _rss_mib()
    return {
        "n": n, "retrain_s": retrain, "mean_size": float(masks.sum(1).mean()), "table_bytes": table_nbytes(table),
        "explainer_epoch_s": per_epoch, "latency1_ms": lat["batch1_ms"], "latency256_ms": lat["batch256_ms_per_sample"],
        "net1_ms": net_ms, "head1_ms": head_ms,
        "params_bytes": sum(p.nbytes for p in explainer.net.parameters()),
        "head_bytes": head.weight.nbytes + head.bias.nbytes,
        "rss_base_mib": base, "rss_engine_mib": rss_engine, "rss_peak_mib": peak, "rss_extra_mib": peak - base,
        "wall_s": time.perf_counter() - t_start,
    }


def expected_table_bytes(s: int, n: int, p: int, m: int = M) -> int:
    """masks S n (bool) + utilities 4 S P m + null and grand 2 x 4 P m + probe ids 8 P."""
    return s * n + 4 * s * p * m + 8 * p * m + 8 * p


def print_rows(rows: list[dict[str, float]]) -> None:
    """One row per n."""
    print(f"\n{'n':>6} {'retrain':>11} {'mean |s|':>8} {'table':>9} {'expl. train':>11} {'values b1':>9} "
          f"{'b256/sample':>11} {'net b1':>8} {'head b1':>8} {'params':>8} {'RSS base':>8} {'engine':>7} {'peak':>7} "
          f"{'peak-base':>9}")
    print(f"{'':>6} {'s/coalition':>11} {'':>8} {'MiB':>9} {'s/epoch':>11} {'ms':>9} {'ms':>11} {'ms':>8} "
          f"{'ms':>8} {'MiB':>8} {'MiB':>8} {'MiB':>7} {'MiB':>7} {'MiB':>9}")
    for r in rows:
        print(f"{r['n']:>6,} {r['retrain_s']:>11.4f} {r['mean_size']:>8.0f} {r['table_bytes'] / 2**20:>9.2f} "
              f"{r['explainer_epoch_s']:>11.2f} {r['latency1_ms']:>9.2f} {r['latency256_ms']:>11.3f} "
              f"{r['net1_ms']:>8.2f} {r['head1_ms']:>8.2f} {r['params_bytes'] / 2**20:>8.2f} "
              f"{r['rss_base_mib']:>8.0f} {r['rss_engine_mib']:>7.0f} {r['rss_peak_mib']:>7.0f} {r['rss_extra_mib']:>9.0f}")


def slopes(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Per quantity: (log-log slope of y on n, slope of its n-dependent part, see :func:`increment_slope`)."""
    n = np.array([r["n"] for r in rows], float)
    return {k: (loglog_slope(n, [r[k] for r in rows]), increment_slope(n, [r[k] for r in rows])) for k in QUANTITIES}


def goals(rows: list[dict[str, float]], fits: dict[str, tuple[float, float]], cfg: Config) -> list[tuple[str, bool | None, str]]:
    """(goal, met (None: not measured in this run), evidence)."""
    out: list[tuple[str, bool | None, str]] = []
    b = fits["retrain_s"][0]
    out.append((f"retraining per coalition at most linear in n (slope <= {SLOPE_GOAL})", b <= SLOPE_GOAL,
                f"slope {b:.2f}"))
    last = next((r for r in rows if r["n"] == LATENCY_GOAL_N), None)
    if last is None:
        out.append((f"Explainer.values at batch 1 <= {LATENCY_GOAL_MS:g} ms at n = {LATENCY_GOAL_N:,}", None,
                    f"not measured (largest n here {rows[-1]['n']:,}); run without --quick"))
    else:
        out.append((f"Explainer.values at batch 1 <= {LATENCY_GOAL_MS:g} ms at n = {LATENCY_GOAL_N:,}",
                    last["latency1_ms"] <= LATENCY_GOAL_MS, f"{last['latency1_ms']:.2f} ms"))
    exact = all(r["table_bytes"] == expected_table_bytes(cfg.table_coalitions, r["n"], cfg.probes) for r in rows)
    mem = [k for k, (_, _, is_mem) in QUANTITIES.items() if is_mem]
    inc = {k: fits[k][1] for k in mem}
    ok = exact and all(np.isfinite(v) and v <= SLOPE_GOAL for v in inc.values())
    out.append(("every memory figure linear in its inputs", ok,
                f"table bytes {'==' if exact else '!='} S n + 4 S P m + 8 P m + 8 P at every n; n-dependent slopes "
                + ", ".join(f"{QUANTITIES[k][0]} {v:.2f}" for k, v in inc.items())))
    return out


def plot(rows: list[dict[str, float]], fits: dict[str, tuple[float, float]], path: Path = OUT) -> Path:
    """Log-log: every quantity over its value at the smallest n, with the slope-1 line; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r["n"] for r in rows], float)
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    ax.loglog(n, n / n[0], "k:", lw=1.5, label="linear (slope 1)")
    for (k, (label, _, _)), marker in zip(QUANTITIES.items(), "os^vDpx"):
        y = np.array([r[k] for r in rows], float)
        ax.loglog(n, y / y[0], "-" + marker, ms=5, label=f"{label} (slope {fits[k][0]:.2f})")
    ax.set_xlabel("training points n")
    ax.set_ylabel("cost relative to the smallest n")
    ax.set_title("Fast-DataShapley: cost against n (1x8x8 blobs, digits_cnn, small_cnn explainer, CPU)", fontsize=9)
    ax.grid(True, which="major", alpha=0.4)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    """Measure every n in a fresh process, print the rows, slopes and goals, save the figure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n up to 1000 and smaller counts (< 2 minutes)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads in each process (default: torch's)")
    a = ap.parse_args(argv)
    cfg = QUICK if a.quick else FULL
    t0 = time.perf_counter()
    print(f"{'--quick' if a.quick else 'full'} run, {a.threads or 'default'} torch threads; " + ", ".join(
        f"{k} {v}" for k, v in asdict(cfg).items()), flush=True)
    rows = []
    for n in cfg.ns:
        rows.append(in_fresh_process(measure, n, cfg, a.threads))
        print(f"  n = {n:,}: {rows[-1]['wall_s']:.1f} s", flush=True)
    print_rows(rows)
    fits = slopes(rows)
    print(f"\nlog-log slope against n: least squares over n = {', '.join(f'{n:,}' for n in cfg.ns)}; between the two "
          "largest n; of the n-dependent part (memory)")
    n = np.array([r["n"] for r in rows], float)
    for k, (label, unit, is_mem) in QUANTITIES.items():
        extra = f"   {fits[k][1]:6.2f}" if is_mem else ""
        last = loglog_slope(n[-2:], [r[k] for r in rows[-2:]])
        print(f"  {label + ' (' + unit + ')':<48} {fits[k][0]:6.2f}   {last:6.2f}{extra}")
    big = rows[-1]
    print(f"\nat n = {big['n']:,}, batch 1: Explainer.values {big['latency1_ms']:.2f} ms, explainer net "
          f"{big['net1_ms']:.2f} ms, its output layer ({big['head_bytes'] / 2**20:.1f} MiB of weights) "
          f"{big['head1_ms']:.2f} ms; output layer {100 * big['head_bytes'] / big['params_bytes']:.0f}% of the "
          "explainer's parameters")
    print("\ngoals")
    for goal, met, why in goals(rows, fits, cfg):
        print(f"  [{'n/a' if met is None else 'met' if met else 'NOT met'}] {goal}: {why}")
    print(f"\nfigure: {plot(rows, fits)}; {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
