"""Rule lds_table: the linear datamodeling score of every method (and of the exact values, when enumerated) on
the held-out lds design, per test sample, with its bootstrap confidence interval."""

import numpy as np
import pandas as pd
from common import start

from fastdatashapley.data import probe_test_rows
from fastdatashapley.base.io import load_npz, load_values, split_sizes
from fastdatashapley.evaluation.lds import lds_own_label, lds_summary, noise_ceiling, retest_correlation
from fastdatashapley.evaluation.tables import method_label, write_table
from fastdatashapley.engine.utility_table import UtilityTable

log = start(snakemake)  # noqa: F821
p, inp, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
split, probes = load_npz(inp.split), load_npz(inp.probes)
sizes = split_sizes(split)
test = probe_test_rows(probes, split["idx_test"], inp.probes)
labels = split["y_test"]
table = UtilityTable.load(inp.table)
utilities, null = table.utilities[:, test], table.null[test]  # [M, T, m], [T, m]
log.info("lds design: %d held-out subsets over n = %d, mean kept fraction %.3f", table.n_coalitions, table.n,
         table.masks.mean())
runs = [(method_label(scope, method, p.explainers), path) for (scope, method), path in zip(p.valued, inp["values"])]
if "exact" in inp.keys():
    runs.append(("exact", inp.exact))
per_sample, rows = [], []
for label, path in runs:
    exact = label == "exact"  # exact values are [n, P, m] over every probe
    values, _ = load_values(path, **{**sizes, "n_test": len(probes["y"])} if exact else sizes)
    values = values[:, test] if exact else values
    scores = lds_own_label(values, labels, table.masks, utilities, null)
    per_sample.append(pd.DataFrame({"method": label, "sample": np.arange(len(scores)), "lds": scores}))
    rows.append({"method": label, **lds_summary(scores, seed=p.seed)})
retest = UtilityTable.load(inp.retest)
if not np.array_equal(retest.masks, table.masks):
    raise ValueError(f"{inp.retest} does not retrain the subsets of {inp.table}; rerun its design")
agreement = retest_correlation(utilities, retest.utilities[:, test], labels)
per_sample.append(pd.DataFrame({"method": "retest_spearman", "sample": np.arange(len(agreement)), "lds": agreement}))
rows.append({"method": "noise_ceiling", **noise_ceiling(agreement, seed=p.seed)})
log.info("test-retest Spearman of the lds subsets: mean %.3f (ceiling %.3f)", np.nanmean(agreement), rows[-1]["mean"])
frame = pd.DataFrame(rows).rename(columns={"n_samples": "n_test"})
write_table(frame[["method", "mean", "ci_low", "ci_high", "n_test", "n_undefined"]], out.csv, out.md)
write_table(pd.concat(per_sample, ignore_index=True), out.samples)
log.info("LDS:\n%s", frame.to_string())
