"""Rule budget_kernelshap: per-sample KernelSHAP of the test samples, solved from one kernel-design utility table
(the table FDS trains on at the same budget), with that table's retraining count."""

import time

import numpy as np
from common import start

from fastdatashapley.base.io import load_npz
from fastdatashapley.data import probe_test_rows
from fastdatashapley.engine.utility_table import UtilityTable
from fastdatashapley.games import ValuationResult, kernel_from_samples

log = start(snakemake)  # noqa: F821
p, inp = snakemake.params, snakemake.input  # noqa: F821
split, probes = load_npz(inp.split), load_npz(inp.probes)
table = UtilityTable.load(inp.table)
test = probe_test_rows(probes, split["idx_test"], inp.probes)
if not np.array_equal(table.probe_ids, probes["idx"]):
    raise ValueError(f"{inp.table} holds other probe points than {inp.probes}; rerun its shards")
t0 = time.perf_counter()
values, info = kernel_from_samples(table.masks, table.utilities[:, test], table.null[test], table.grand[test],
                                   return_info=True)  # [n, T, m]
seconds = time.perf_counter() - t0
result = ValuationResult(values, table.n_coalitions + 1, std=info.std, counts={"coalitions": info.n_samples},
                         info={"seconds": seconds})
log.info("kernelshap from %d coalitions of %s: values %s in %.2f s", table.n_coalitions, inp.table, values.shape,
         seconds)
result.save(snakemake.output.values, method="kernelshap", scope="per_sample",  # noqa: F821
            settings={"table": str(inp.table)}, seed=p.seed, probe_ids=split["idx_test"].tolist())
