"""Rule seeds_table: one table's mean and t interval over the seeds of `seeds` (tables/<name>_seeds.{csv,md})."""

import pandas as pd
from common import start

from fastdatashapley.evaluation.stats import seeds_table
from fastdatashapley.evaluation.tables import write_table

log = start(snakemake)  # noqa: F821
p, out = snakemake.params, snakemake.output  # noqa: F821
frames = {seed: pd.read_csv(path) for seed, path in zip(p.seeds, snakemake.input.tables)}  # noqa: F821
frame = seeds_table(frames, snakemake.wildcards.table)  # noqa: F821
write_table(frame, out.csv, out.md)
log.info("%s over seeds %s:\n%s", snakemake.wildcards.table, p.seeds, frame.to_string())  # noqa: F821
