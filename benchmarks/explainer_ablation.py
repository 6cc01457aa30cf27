"""Explainer ablation: what each change to the FDS explainer buys in LDS, on one run's own tables.

Reads a finished (or partly finished) workflow run: its split, probes, service model, the kernel design's utility
table (what FDS trains on) and the held-out lds table. Fits one explainer per variant on the same table with
:func:`fastdatashapley.explainers.fit_explainer` (the workflow's own code path) and reports, per variant, the mean
LDS of the test samples with its 95 % bootstrap CI, the best validation loss, epochs and seconds. References on the
same table: per-sample KernelSHAP (the estimate FDS amortises), and two structural ones that need no retraining:
the own-class indicator and same-class embedding similarity. With ``--banzhaf``, also the banzhaf table's MSR
values and the fast_banzhaf explainer, and with ``--datamodel`` the datamodel regression.

    python benchmarks/explainer_ablation.py --run results/digits-scale [--variants paper,table,...] [--threads 2]

Prints one Markdown table; writes nothing else.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from fastdatashapley.base.io import load_npz
from fastdatashapley.data import probe_test_rows
from fastdatashapley.engine.service import ServiceModel
from fastdatashapley.engine.utility_table import UtilityTable
from fastdatashapley.evaluation.lds import lds_own_label, lds_summary
from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer
from fastdatashapley.games import kernel_from_samples
from fastdatashapley.games.estimators.banzhaf import datamodel_from_samples, msr_from_samples
from fastdatashapley.games.grouping import penultimate

#: Each variant: (what changes, the settings over the paper's). The paper's: sampled loss, free head, lr 2e-4.
VARIANTS: dict[str, tuple[str, dict]] = {
    "paper": ("the paper's FDS (sampled loss, free n x m head, lr 2e-4)", {}),
    "paper_lr1e-3": ("the paper's FDS at lr 1e-3 (config/config.yaml's explainer lr)", dict(lr=1e-3)),
    "per_point": ("+ outputs divided by n, lr 1e-3", dict(per_point=True, lr=1e-3)),
    "table": ("+ every table row per step (the table loss)", dict(per_point=True, lr=1e-3, loss="table")),
    "two_tower": ("+ two-tower head over the service embeddings (rank 32)",
                  dict(per_point=True, lr=1e-3, loss="table", head="two_tower")),
    "two_tower_sampled": ("two-tower head, sampled loss", dict(per_point=True, lr=1e-3, head="two_tower")),
}


def load_run(run: Path) -> dict:
    split, probes = load_npz(run / "split.npz"), load_npz(run / "probes.npz")
    lds = UtilityTable.load(run / "utility/lds-full.npz")
    test = probe_test_rows(probes, split["idx_test"], run / "probes.npz")
    return dict(split=split, probes=probes, lds=lds, test=test, service=ServiceModel.load(run / "models/service.pt"),
                table=lambda name: UtilityTable.load(run / f"utility/{name}-full.npz"))


def score(r: dict, values: np.ndarray) -> dict:
    """LDS summary of per-sample values ``[n, T, m]`` on the run's lds table."""
    t = r["test"]
    return lds_summary(lds_own_label(values, r["split"]["y_test"], r["lds"].masks, r["lds"].utilities[:, t],
                                     r["lds"].null[t]))


def fit(r: dict, table: UtilityTable, method: str, settings: dict, epochs: int, value: str = "shapley") -> tuple:
    base = dict(lr=2e-4, max_epochs=epochs, patience=20, batch_size=32, coalitions_per_x=32, seed=0, device="cpu")
    s = ExplainerSettings(**{**base, **settings})
    t0 = time.perf_counter()
    e = fit_explainer(table, r["probes"]["x"], r["probes"]["role"], r["service"], r["split"]["x_train"],
                      r["split"]["y_train"], method=method, value=value, settings=s)
    values = e.values(r["split"]["x_test"]).transpose(1, 0, 2)
    return values, e.meta["best_val_loss"], len(e.history), time.perf_counter() - t0


def references(r: dict, kernel: UtilityTable) -> list[tuple[str, dict]]:
    t, y, yt = r["test"], r["split"]["y_test"], r["split"]["y_train"]
    rows = [("per-sample KernelSHAP on the same table",
             score(r, kernel_from_samples(kernel.masks, kernel.utilities[:, t], kernel.null[t], kernel.grand[t])))]
    n, T, m = len(yt), len(y), kernel.n_classes
    same = (yt[:, None] == y[None, :]).astype(float)
    emb_train, emb_test = (penultimate(r["service"], r["split"][k]) for k in ("x_train", "x_test"))
    cos = (emb_train / np.linalg.norm(emb_train, axis=1, keepdims=True)) @ \
        (emb_test / np.linalg.norm(emb_test, axis=1, keepdims=True)).T
    for name, own in (("own-class indicator (no retraining)", same),
                      ("same class x exp(embedding cosine / 0.1) (no retraining)", same * np.exp(cos / 0.1))):
        values = np.zeros((n, T, m))
        values[:, np.arange(T), y] = own
        rows.append((name, score(r, values)))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=Path("results/digits-scale"), help="a workflow run's results folder")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--banzhaf", action="store_true", help="also the banzhaf table's MSR and fast_banzhaf")
    ap.add_argument("--banzhaf-variants", default="two_tower", help="with --banzhaf: the fast_banzhaf variants")
    ap.add_argument("--datamodel", action="store_true", help="also the datamodel regression on its table")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    r = load_run(a.run)
    kernel = r["table"]("kernel")
    print(f"run {a.run}: n = {kernel.n}, {kernel.n_coalitions} kernel coalitions, {r['lds'].n_coalitions} lds subsets, "
          f"{len(r['test'])} test samples", flush=True)
    out = [(name, row, "", "", "", kernel.n_coalitions) for name, row in references(r, kernel)]
    for key in filter(None, a.variants.split(",")):
        text, settings = VARIANTS[key]
        values, best, epochs, seconds = fit(r, kernel, "fds", settings, a.epochs)
        out.append((f"`{key}`: {text}", score(r, values), f"{best:.4e}", epochs, f"{seconds:.0f}", kernel.n_coalitions))
        print(out[-1], flush=True)
    t = r["test"]
    if a.banzhaf:
        b = r["table"]("banzhaf")
        util = b.utilities[:, t].astype(np.float64)
        out.append(("Data Banzhaf MSR on the banzhaf table (another value)", score(r, msr_from_samples(b.masks, util)),
                    "", "", "", b.n_coalitions))
        for key in a.banzhaf_variants.split(","):
            text, settings = VARIANTS[key]
            values, best, epochs, seconds = fit(r, b, "fast_banzhaf", settings, a.epochs, value="banzhaf")
            out.append((f"fast_banzhaf explainer, `{key}`: {text}", score(r, values), f"{best:.4e}", epochs,
                        f"{seconds:.0f}", b.n_coalitions))
            print(out[-1], flush=True)
    if a.datamodel:
        d = r["table"]("datamodel")
        util = d.utilities[:, t].astype(np.float64)
        out.append(("datamodel ridge regression (a reference)", score(r, datamodel_from_samples(d.masks, util, ridge=0.01)),
                    "", "", "", d.n_coalitions))
    print("\n| variant | LDS [95 % CI] | best validation loss | epochs | seconds | table rows |\n| --- | --- | --- | --- | --- | --- |")
    for name, row, best, epochs, seconds, rows in out:
        print(f"| {name} | {row['mean']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}] | {best} | {epochs} | {seconds} | "
              f"{rows:,} |")


if __name__ == "__main__":
    main()
