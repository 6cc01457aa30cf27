"""Rule merge: validate the shards of one design and concatenate them into one utility table."""

from common import start

from fastdatashapley.engine.utility_table import UtilityTable, merge

log = start(snakemake)  # noqa: F821
tables = [UtilityTable.load(path) for path in snakemake.input.shards]  # noqa: F821
table = merge(tables)
log.info("merged %d shards: %d coalitions, %d probes, %d labels", len(tables), table.n_coalitions, table.n_probes, table.n_classes)
table.save(snakemake.output.table)  # noqa: F821
