"""Rule grouping_table: H_eta of GFDS+ per grouping metric and clustering method (paper Table 4)."""

import pandas as pd
from common import start

from fastdatashapley.io import read_json
from fastdatashapley.report import write_table

log = start(snakemake)  # noqa: F821
rows = [read_json(path) for path in snakemake.input.results]  # noqa: F821
frame = pd.DataFrame(rows)[["kind", "features", "eta", "mean", "std", "n_test", "n_groups"]]
frame = frame.rename(columns={"kind": "clustering", "features": "metric"})
frame.loc[frame["clustering"] == "label", "metric"] = "label"
write_table(frame, snakemake.output.csv, snakemake.output.md)  # noqa: F821
log.info("grouping table:\n%s", frame.to_string())
