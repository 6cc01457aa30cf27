"""Rule grouping_table: H_eta of GFDS+ per grouping metric and clustering method (paper Table 4)."""

import pandas as pd
from common import start

from fastdatashapley.base.io import load_npz, read_json
from fastdatashapley.evaluation.tables import write_table

log = start(snakemake)  # noqa: F821
inp = snakemake.input  # noqa: F821
rows = []
for grouping, loss_path, groups_path in zip(snakemake.params.groupings, inp.losses, inp.groups):  # noqa: F821
    arr = load_npz(loss_path)
    kind, features = grouping.split("-", 1)
    col = arr["loss"][:, 0]
    rows.append({"clustering": kind, "metric": "label" if kind == "label" else features,
                 "eta": float(arr["fractions"][0]), "mean": float(col.mean()), "std": float(col.std()),
                 "n_test": int(len(col)), "n_groups": len(read_json(groups_path)["groups"])})
frame = pd.DataFrame(rows)[["clustering", "metric", "eta", "mean", "std", "n_test", "n_groups"]]
write_table(frame, snakemake.output.csv, snakemake.output.md)  # noqa: F821
log.info("grouping table:\n%s", frame.to_string())
