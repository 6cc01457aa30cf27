"""Rule report_tables: value-loss and cost tables and the value-loss figure."""

import pandas as pd
from common import start

from fastdatashapley.base.io import load_npz, load_values, split_sizes, write_json
from fastdatashapley.workflow.provenance import table_provenance
from fastdatashapley.evaluation.tables import benchmark_seconds, method_label, value_loss_tables, write_table
from fastdatashapley.evaluation.figures import plot_value_loss

log = start(snakemake)  # noqa: F821
p, out = snakemake.params, snakemake.output  # noqa: F821
sizes = split_sizes(load_npz(snakemake.input.split))  # noqa: F821
losses, removal_threads, metas = {}, {}, {}
for (scope, method), path in zip(p.valued, snakemake.input.losses):  # noqa: F821
    arr = load_npz(path)
    label = method_label(scope, method, p.explainers)
    removal_threads[label] = int(arr["torch_threads"]) if "torch_threads" in arr else None
    losses[label] = (arr["fractions"], arr["loss"])
curve, table = value_loss_tables(losses, p.etas, p.order, seed=p.seed)
write_table(table, out.value_loss, out.value_loss_md)
write_table(curve.reset_index(drop=True), out.curve)
plot_value_loss(curve, out.figure.removesuffix(".png"), p.order, title=f"Value loss on {p.dataset} (mean +- std over test samples)")

cost = []
for (scope, method), values_path in zip(p.valued, snakemake.input["values"]):  # noqa: F821
    _, meta = load_values(values_path, **sizes)
    benches = p.benchmarks[f"{scope}/{method}"]
    label = method_label(scope, method, p.explainers)
    metas[label] = meta
    cost.append({"method": label, "seconds": round(benchmark_seconds(benches), 2), "retrainings": int(meta.get("retrained", 0))})
write_table(pd.DataFrame(cost), out.cost, out.cost_md)
write_json(out.provenance, table_provenance(metas, removal_threads))  # seed and torch threads of value_loss.csv
log.info("tables written:\n%s", table.to_string())
