"""Benchmark: the total cost of valuing T new test samples, with the FDS explainer and without one.

The default config's problem: digits, n = 100 training points (10 per class), m = 10 labels, service model
``digits_cnn`` (Adam, lr 1e-3, 50 epochs, batch 20), every sub-model trained the same way. New samples arrive
one at a time and each is valued when it arrives, the real-time setting FDS is built for. With
``--arrival-batch b``, b samples arrive together and share one retraining run, since one sub-model values
every sample of a batch. Total seconds to value T samples, T in 1, 10, 100, 1000, 10000:

* **FDS.** One-off cost: the kernel design's S = 2048 sub-models through the engine, with the table's 1100
  probes (pool 1000 + validation 100). This is EXTRAPOLATED from a measured sample of the design's coalitions,
  scaled to S. Add the explainer's training: seconds per epoch are measured over a few epochs on a table of the
  measured coalitions, then EXTRAPOLATED to E epochs. E = 100 (``--explainer-epochs``) is the config's
  ``max_epochs``, an upper bound, since early stopping may end sooner (docs/results.md puts the default run's
  explainer training, merge included, at 20-30 s). An epoch's cost does not depend on S. Then T x
  ``Explainer.values`` per sample at batch 256 (MEASURED).
* **KernelSHAP by retraining.** Per arriving batch, S = 2048 sub-models through the engine with the batch as
  probes (EXTRAPOLATED from the same measured sample), plus a KernelSHAP solve per sample (MEASURED).
* **TMC by retraining.** Per arriving batch, 9901 retrainings: the default config's 100 permutations, as counted
  for ``tmc/per_sample`` in docs/results.md's cost table. At the engine's measured seconds per retraining in
  TMC's own calls (50 prefixes of one length, as ``batch_permutations: 50`` walks them), at prefix lengths spread
  over 1..99 (EXTRAPOLATED to 9901). TMC's own arithmetic is not counted.
* **Stored sub-models.** Keep the S sub-models of the FDS table's run (the same one-off retraining), then
  per sample S forward passes: each kept sub-model, built once and held in memory, runs on the sample one at
  a time (MEASURED on a few and scaled to S); plus the solve. Memory: parameters per sub-model x 4 bytes x S.

All four are measured in one run on this machine; the ratios at T = 10,000 compare totals from that run.
``--quick`` measures fewer coalitions, fewer explainer epochs and fewer repeats, and finishes in under 2
minutes. Its engine sample is a partial chunk, which overstates the engine's per-coalition cost. The figure
(log-log total seconds against T) goes to ``benchmarks/out/amortisation.png``.

On a machine whose cores are shared with other jobs, pass ``--threads 1``. With another 2-core job running,
``--quick`` at torch's default 2 threads took 137 s and measured the engine about 25x slower; with
``--threads 1`` it took 13 s. The forward passes barely slowed, so even ratios from one run are distorted.

    .venv/bin/python benchmarks/amortisation.py [--quick] [--threads T] [--arrival-batch B] [--explainer-epochs E]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from _common import digits_service, timed
from fastdatashapley.games.coalitions import kernel_masks, permutations, prefix_masks
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer
from fastdatashapley.engine.service import ServiceModel
from fastdatashapley.games import kernel_from_samples
from fastdatashapley.engine.training import TrainerSpec, train_models, train_submodels
from fastdatashapley.engine.utility_table import UtilityTable

N, M, S = 100, 10, 2048
#: Retrainings of per-sample TMC with the default config (100 permutations): docs/results.md, cost table.
TMC_RETRAININGS = 9901
#: Prefixes per engine call in TMC's walk (the default config's ``baselines.tmc.batch_permutations``).
TMC_CALL = 50
#: The default config's explainer settings (``explainers:``); E, the epochs charged to FDS, defaults to ``max_epochs``.
EXPLAINER = {"lr": 1e-3, "batch_size": 32, "coalitions_per_x": 32}
EXPLAINER_EPOCHS = 100
N_POOL, N_VAL, BATCH = 1000, 100, 256
T_VALUES = (1, 10, 100, 1_000, 10_000)
APPROACHES = ("fds", "kernelshap", "tmc", "stored")
LABELS = {"fds": "FDS explainer", "kernelshap": "KernelSHAP, retrain", "tmc": "TMC, retrain",
          "stored": "stored sub-models"}
OUT = Path(__file__).resolve().parent / "out" / "amortisation.png"


@dataclass(frozen=True)
class Problem:
    """The default config's problem: D ``x [N, 1, 8, 8]``, ``y [N]``, the service model, the table's probes
    ``[P, 1, 8, 8]`` (pool, then validation) with their roles ``[P]``, and new samples ``[256, 1, 8, 8]``."""

    spec: TrainerSpec
    service: ServiceModel
    x: np.ndarray
    y: np.ndarray
    probes: np.ndarray
    role: np.ndarray
    new: np.ndarray


@dataclass(frozen=True)
class Cost:
    """total(T) = one_off + ceil(T / b) * per_batch + T * per_sample, in seconds."""

    one_off: float
    per_batch: float
    per_sample: float

    def total(self, t: np.ndarray | int, batch: int) -> np.ndarray:
        """Total seconds for ``t`` samples (a number or an array of them) arriving ``batch`` at a time."""
        t = np.asarray(t, np.float64)
        return self.one_off + np.ceil(t / batch) * self.per_batch + t * self.per_sample


def setup() -> Problem:
    """Digits, the seeded split and the service model as ``benchmarks/explainer.py`` builds them."""
    from fastdatashapley.data import POOL, VALIDATION

    ds, split, x, y, spec, service = digits_service()
    rest = split.rest
    probes = ds.x[rest[: N_POOL + N_VAL]]
    role = np.r_[np.full(N_POOL, POOL), np.full(N_VAL, VALIDATION)]
    new = ds.x[rest[N_POOL + N_VAL : N_POOL + N_VAL + BATCH]]
    return Problem(spec, service, x, y, probes, role, new)


def _retrain(p: Problem, masks: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, float]:
    """The engine on ``masks [k, n]`` from the service's initial weights: (utilities ``[k, P, m]``, seconds)."""
    t0 = time.perf_counter()
    out = train_submodels(p.spec, p.service.null_state, p.x, p.y, masks, probes, seed=0, device="cpu")
    return out, time.perf_counter() - t0


def measure_engine(p: Problem, count: int) -> dict:
    """The engine on the kernel design's first ``count`` coalitions (of S), with the table's probes and with
    one new sample as the probe. Seconds measured and scaled to S; the table's utilities for the explainer."""
    masks = kernel_masks(N, S, seed=0)[:count]
    _retrain(p, masks[:2], p.new[:1])  # warm-up: first-call allocations
    table_util, table_s = _retrain(p, masks, p.probes)
    _, one_s = _retrain(p, masks, p.new[:1])
    return {"count": count, "masks": masks, "table_util": table_util, "table_measured": table_s,
            "table": table_s * S / count, "one_measured": one_s, "one": one_s * S / count}


def measure_tmc(p: Problem, calls: int) -> dict:
    """Seconds per retraining in TMC's engine calls: ``calls`` calls of :data:`TMC_CALL` prefixes each, one
    prefix length per call at the midpoints of ``calls`` equal strata of 1..n-1 (a sub-model's cost grows with
    its coalition's size; the per-sample walks are hardly ever truncated, so every length occurs about equally)."""
    prefixes = prefix_masks(permutations(N, TMC_CALL, seed=1))  # [50, n + 1, n]
    lengths = np.unique(np.round(1 + (np.arange(calls) + 0.5) * (N - 2) / calls).astype(int))
    seconds = sum(_retrain(p, prefixes[:, j], p.new[:1])[1] for j in lengths)
    per = seconds / (len(lengths) * TMC_CALL)
    return {"lengths": lengths, "measured": seconds, "per_retraining": per, "per_batch": per * TMC_RETRAININGS}


def measure_explainer(p: Problem, engine: dict, epochs: int, charged: int) -> tuple[dict, Explainer]:
    """Train the FDS explainer for ``epochs`` epochs on the measured coalitions' table (the default config's
    settings otherwise); seconds per epoch, scaled to ``charged`` epochs."""
    table = UtilityTable(engine["masks"], engine["table_util"], p.service.null_proba(p.probes),
                         p.service.proba(p.probes), np.arange(len(p.probes)))
    settings = ExplainerSettings(**EXPLAINER, max_epochs=epochs, patience=epochs + 1, device="cpu", seed=0)
    explainer = fit_explainer(table, p.probes, p.role, p.service, p.x, p.y, method="fds", settings=settings)
    per_epoch = explainer.history[-1]["seconds"] / len(explainer.history)
    return {"epochs": len(explainer.history), "per_epoch": per_epoch, "charged": charged,
            "total": per_epoch * charged}, explainer


def measure_forward(explainer: Explainer, new: np.ndarray, repeats: int) -> float:
    """Seconds per sample of ``Explainer.values`` at batch ``len(new)`` (best of ``repeats``)."""
    return timed(lambda: explainer.values(new, batch_size=len(new)), repeats)[0] / len(new)


def measure_solve(p: Problem) -> float:
    """Seconds of one per-sample KernelSHAP solve over S coalitions (n players, m labels). Its cost depends
    only on the shapes, so the utilities ``[S, m]`` are made up (the null model's plus a mask-dependent term)."""
    masks = kernel_masks(N, S, seed=0)
    null, grand = p.service.null_proba(p.new[:1])[0], p.service.proba(p.new[:1])[0]
    util = (null[None] + 0.1 * masks[:, :M]).astype(np.float32)
    return timed(lambda: kernel_from_samples(masks, util, null, grand), 5)[0]


def measure_stored(p: Problem, count: int) -> dict:
    """Stored sub-models: the softmax of ``count`` trained sub-models, kept built in memory, on one new sample,
    one forward pass each (best of 5, per model), scaled to S per sample; parameters per sub-model and the
    memory of S of them."""
    states = train_models(p.spec, p.service.null_state, p.x, p.y, kernel_masks(N, S, seed=0)[:count], seed=0,
                          device="cpu")
    nets = []
    for state in states:
        nets.append(p.spec.build())
        nets[-1].load_state_dict(state)
        nets[-1].eval()
    x1 = torch.from_numpy(p.new[:1])

    def forward_all() -> list[torch.Tensor]:
        """Every kept sub-model's softmax on the sample, one forward pass each."""
        with torch.no_grad():
            return [torch.softmax(net(x1), 1) for net in nets]

    per_model = timed(forward_all, 5)[0] / count
    n_params = sum(v.numel() for v in states[0].values())
    return {"count": count, "per_model": per_model, "params": n_params, "bytes": n_params * 4 * S}


def costs(m: dict) -> dict[str, Cost]:
    """Each approach's :class:`Cost` from the measurements (module docstring)."""
    one_off = m["engine"]["table"]
    return {
        "fds": Cost(one_off + m["explainer"]["total"], 0.0, m["forward"]),
        "kernelshap": Cost(0.0, m["engine"]["one"], m["solve"]),
        "tmc": Cost(0.0, m["tmc"]["per_batch"], 0.0),
        "stored": Cost(one_off, 0.0, S * m["stored"]["per_model"] + m["solve"]),
    }


def crossover(fds: Cost, other: Cost, batch: int, t_max: int = 10**6) -> int | None:
    """The first T at which FDS's total is at most ``other``'s (None if not up to ``t_max``)."""
    t = np.arange(1, t_max + 1)
    hits = np.flatnonzero(fds.total(t, batch) <= other.total(t, batch))
    return int(t[hits[0]]) if len(hits) else None


def print_measured(m: dict, quick: bool) -> None:
    """What was measured and what is extrapolated from it."""
    e, tmc, ex, st = m["engine"], m["tmc"], m["explainer"], m["stored"]
    print(f"\nMeasured on this machine ({'--quick' if quick else 'full'} mode); S = {S}")
    print(f"  engine, table probes ({N_POOL + N_VAL}): {e['count']} coalitions in {e['table_measured']:.2f} s "
          f"({e['count'] / e['table_measured']:.0f}/s) -> S: {e['table']:.1f} s  [EXTRAPOLATED x{S / e['count']:.0f}]")
    print(f"  engine, 1 probe: {e['count']} coalitions in {e['one_measured']:.2f} s "
          f"({e['count'] / e['one_measured']:.0f}/s) -> S: {e['one']:.1f} s  [EXTRAPOLATED x{S / e['count']:.0f}]")
    print(f"  engine, TMC calls ({TMC_CALL} prefixes of lengths {', '.join(map(str, tmc['lengths']))}): "
          f"{tmc['per_retraining'] * 1e3:.2f} ms per retraining -> {TMC_RETRAININGS} retrainings: "
          f"{tmc['per_batch']:.1f} s  [EXTRAPOLATED]")
    print(f"  explainer training: {ex['epochs']} epochs, {ex['per_epoch']:.2f} s per epoch -> {ex['charged']} "
          f"epochs: {ex['total']:.1f} s  [EXTRAPOLATED]")
    print(f"  Explainer.values at batch {BATCH}: {m['forward'] * 1e3:.4f} ms per sample  [MEASURED]")
    print(f"  KernelSHAP solve ({S} x {N}, {M} labels): {m['solve'] * 1e3:.2f} ms per sample  [MEASURED]")
    print(f"  stored sub-models: {st['params']:,} parameters each, {st['bytes'] / 2**20:.1f} MiB for S; "
          f"forward pass {st['per_model'] * 1e3:.3f} ms per model  [MEASURED on {st['count']}] -> "
          f"{S * st['per_model']:.2f} s per sample  [x{S}]")


def print_table(c: dict[str, Cost], batch: int) -> None:
    """Total seconds per approach for each T, the crossovers and the ratios at the largest T."""
    print(f"\nTotal seconds to value T new samples (arriving {batch} at a time)")
    print(f"{'T':>7} " + " ".join(f"{LABELS[a]:>20}" for a in APPROACHES))
    for t in T_VALUES:
        print(f"{t:>7,} " + " ".join(f"{float(c[a].total(t, batch)):>20,.2f}" for a in APPROACHES))
    fds, t_last = c["fds"], T_VALUES[-1]
    for a in APPROACHES[1:]:
        t_star = crossover(fds, c[a], batch)
        ratio = float(c[a].total(t_last, batch) / fds.total(t_last, batch))
        when = f"from T = {t_star:,}" if t_star else "not up to T = 1,000,000"
        print(f"  FDS vs {LABELS[a]}: FDS is cheaper {when}; at T = {t_last:,} {LABELS[a]} costs {ratio:,.1f}x FDS")


def plot(c: dict[str, Cost], batch: int, labels: dict[str, str], path: Path = OUT) -> Path:
    """Log-log total seconds against T for every approach (legend ``labels``), the table's T marked; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.unique(np.geomspace(1, T_VALUES[-1], 200).round())
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for a, style in zip(APPROACHES, ("-", "--", "-.", ":")):
        ax.loglog(t, c[a].total(t, batch), style, lw=2, label=labels[a])
        ax.plot(T_VALUES, c[a].total(np.array(T_VALUES), batch), "o", ms=4, color=ax.lines[-1].get_color())
    ax.set_xlabel(f"new test samples valued, T (arriving {batch} at a time)")
    ax.set_ylabel("total seconds (one-off + per sample)")
    ax.set_title(f"Valuing T new samples: digits, n = {N}, digits_cnn, S = {S} (measured and extrapolated)",
                 fontsize=9)
    ax.grid(True, which="major", alpha=0.4)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def parse_args() -> argparse.Namespace:
    """The command line (``--quick``, ``--threads``, ``--arrival-batch``, ``--explainer-epochs``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller measured samples (< 2 minutes)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--arrival-batch", type=int, default=1, help="new samples that arrive (and are valued) together")
    ap.add_argument("--explainer-epochs", type=int, default=EXPLAINER_EPOCHS,
                    help=f"explainer epochs charged to FDS (default {EXPLAINER_EPOCHS}, the config's max_epochs)")
    args = ap.parse_args()
    if args.arrival_batch < 1 or args.explainer_epochs < 1:
        ap.error("--arrival-batch and --explainer-epochs must be >= 1")
    return args


def main() -> None:
    """Measure, print what was measured and extrapolated, the table and crossovers, and save the figure."""
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    count, tmc_calls, epochs, repeats, stored = (64, 2, 2, 5, 8) if args.quick else (256, 6, 5, 20, 16)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU; digits n = {N}, m = {M}, "
          f"digits_cnn (Adam lr 1e-3, 50 epochs, batch 20)")
    t0 = time.perf_counter()
    p = setup()
    m = {"engine": measure_engine(p, count), "tmc": measure_tmc(p, tmc_calls)}
    m["explainer"], explainer = measure_explainer(p, m["engine"], epochs, args.explainer_epochs)
    m["forward"] = measure_forward(explainer, p.new, repeats)
    m["solve"] = measure_solve(p)
    m["stored"] = measure_stored(p, stored)
    print_measured(m, args.quick)
    c = costs(m)
    print_table(c, args.arrival_batch)
    labels = {**LABELS, "stored": f"{LABELS['stored']} ({m['stored']['bytes'] / 2**20:.1f} MiB)"}
    print(f"\nfigure: {plot(c, args.arrival_batch, labels)}; {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
