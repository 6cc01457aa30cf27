"""Rule provider_table: the data providers ranked by each method's values (a table with a data.provider column)."""

from pathlib import Path

from common import start

from fastdatashapley.base.io import atomic_path, load_npz, load_values, split_sizes
from fastdatashapley.evaluation.providers import TOP, provider_ranking
from fastdatashapley.evaluation.tables import method_label, to_markdown, write_table

log = start(snakemake)  # noqa: F821
p, out = snakemake.params, snakemake.output  # noqa: F821
split = load_npz(snakemake.input.split)  # noqa: F821
if "provider_train" not in split:
    raise ValueError(f"{snakemake.input.split} holds no providers: set data.provider to a column of the table")  # noqa: F821
sizes = split_sizes(split)
values = {method_label(scope, method, p.explainers): load_values(path, **sizes)[0]
          for (scope, method), path in zip(p.valued, snakemake.input["values"])}  # noqa: F821
table = provider_ranking(values, split["provider_train"], split["provider_names"].tolist(), split["y_test"])
present = int((table.groupby("provider")["points"].first() > 0).sum())
log.info("%d providers (%d with points in D), ranked under %d methods", table["provider"].nunique(), present, len(values))
write_table(table, out.csv)
with atomic_path(out.md) as tmp:  # the top providers of each method
    Path(tmp).write_text(to_markdown(table[table["rank"] <= TOP]) + f"\n\n- top {TOP} of {table['provider'].nunique()} "
                         "providers per method; mean_value: the sum of a provider's points' values, averaged over "
                         "the test samples (at their labels); top_share: the share of samples it ranks first\n")
