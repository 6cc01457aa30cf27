"""Rule exact_values: ground-truth Shapley values of every probe point by full enumeration of the table."""

import time

from common import start

from fastdatashapley import shapley
from fastdatashapley.io import save_values
from fastdatashapley.utility_table import UtilityTable

log = start(snakemake)  # noqa: F821
table = UtilityTable.load(snakemake.input.table)  # noqa: F821
t0 = time.perf_counter()
values = shapley.exact(table.as_utility(), table.n)  # [n, P, m]
meta = {"method": "exact", "probe_ids": table.probe_ids.tolist(), "retrained": table.n_coalitions, "seconds": time.perf_counter() - t0}
log.info("exact values %s from %d coalitions", values.shape, table.n_coalitions)
save_values(snakemake.output.values, values, meta)  # noqa: F821
