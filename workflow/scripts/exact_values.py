"""Rule exact_values: ground-truth Shapley values of every probe point by full enumeration of the table."""

import time

from common import start

from fastdatashapley.engine.utility_table import UtilityTable
from fastdatashapley.games import ValuationResult, exact

log = start(snakemake)  # noqa: F821
table = UtilityTable.load(snakemake.input.table)  # noqa: F821
t0 = time.perf_counter()
result = ValuationResult(exact(table.as_utility(), table.n), table.n_coalitions,  # [n, P, m]
                         info={"seconds": time.perf_counter() - t0})
log.info("exact values %s from %d coalitions", result.values.shape, table.n_coalitions)
result.save(snakemake.output.values, method="exact", probe_ids=table.probe_ids.tolist())  # noqa: F821
