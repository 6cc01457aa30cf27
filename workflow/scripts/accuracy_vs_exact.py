"""Rule accuracy_vs_exact: every Shapley explainer (unseen test samples, and seen pool samples) and KernelSHAP from
the same kernel table (seen pool samples) against the exact values."""

import numpy as np
import pandas as pd
from common import start

from fastdatashapley.evaluation.accuracy import compare
from fastdatashapley.data import POOL, TEST
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.base.io import load_npz, load_values, split_sizes
from fastdatashapley.evaluation.figures import plot_accuracy_vs_exact
from fastdatashapley.evaluation.tables import write_table
from fastdatashapley.games import kernel_from_samples
from fastdatashapley.engine.utility_table import UtilityTable

log = start(snakemake)  # noqa: F821
inp, out = snakemake.input, snakemake.output  # noqa: F821
probes, sizes = load_npz(inp.probes), split_sizes(load_npz(inp.split))
exact, _ = load_values(inp.exact, **{**sizes, "n_test": len(probes["y"])})  # [n, P, m] over all probes
test, pool = np.flatnonzero(probes["role"] == TEST), np.flatnonzero(probes["role"] == POOL)
seen, seed = pool[: snakemake.params.n_seen], snakemake.params.seed  # noqa: F821
rows = []
for method, values_path, explainer_path in zip(snakemake.params.methods, inp["values"], inp.explainers):  # noqa: F821
    est, _ = load_values(values_path, **sizes)
    rows.append({"method": method, "split": "unseen", **compare(est, exact[:, test], probes["y"][test], seed=seed)})
    on_pool = Explainer.load(explainer_path).values(probes["x"][seen]).transpose(1, 0, 2)
    rows.append({"method": method, "split": "seen", **compare(on_pool, exact[:, seen], probes["y"][seen], seed=seed)})
table = UtilityTable.load(inp.kernel)
ks = kernel_from_samples(table.masks, table.utilities[:, seen], table.null[seen], table.grand[seen])
rows.append({"method": "kernelshap", "split": "seen", **compare(ks, exact[:, seen], probes["y"][seen], seed=seed)})
metrics = [f"{m}{s}" for m in ("pearson", "spearman", "rel_l2") for s in ("", "_ci_low", "_ci_high")]
frame = pd.DataFrame(rows)[["method", "split", *metrics, "n_samples"]]
write_table(frame, out.csv, out.md)
plot_accuracy_vs_exact(frame, out.png.removesuffix(".png"), snakemake.params.order)  # noqa: F821
log.info("accuracy vs exact:\n%s", frame.to_string())
