"""Rule budget_curve: the LDS of every (method, budget) point on the held-out lds table, against the retrainings
each point cost; the table, one sentence per budget on which method is the more accurate, and the figure."""

from common import start

from fastdatashapley.data import probe_test_rows
from fastdatashapley.base.io import load_npz, load_values, split_sizes
from fastdatashapley.methods import PER_SAMPLE
from fastdatashapley.evaluation.budget import BudgetPoint, budget_verdicts, lds_curve
from fastdatashapley.evaluation.figures import plot_budget_curve
from fastdatashapley.evaluation.tables import method_label, write_table
from fastdatashapley.engine.utility_table import UtilityTable

log = start(snakemake)  # noqa: F821
p, inp, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
split, probes = load_npz(inp.split), load_npz(inp.probes)
test = probe_test_rows(probes, split["idx_test"], inp.probes)
table = UtilityTable.load(inp.table)
points = []
for (method, budget), path in zip(p.points, inp["values"]):
    values, meta = load_values(path, **split_sizes(split))
    points.append(BudgetPoint(method_label(PER_SAMPLE, method, p.explainers), budget, meta["retrained"], values))
frame = lds_curve(points, split["y_test"], table.masks, table.utilities[:, test], table.null[test], order=p.order,
                  seed=p.seed)
verdicts = budget_verdicts(frame)
write_table(frame, out.csv, out.md, notes=verdicts)
plot_budget_curve(frame, out.png.removesuffix(".png"), p.order, ylabel="mean LDS over test samples (higher is better)",
                  title="LDS against retrainings: 0 is chance, bars are 95 % bootstrap CIs")
log.info("budget curve:\n%s\n%s", frame.to_string(), "\n".join(verdicts))
