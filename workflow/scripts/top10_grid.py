"""Rule top10_grid: each test image next to its 10 most valuable training images (paper Figures 5 and 6)."""

import numpy as np
from common import start

from fastdatashapley.base.io import load_npz, load_values, split_sizes
from fastdatashapley.evaluation.removal import per_sample_values
from fastdatashapley.evaluation.figures import plot_top_contributors
from fastdatashapley.engine.service import ServiceModel

log = start(snakemake)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
split = load_npz(snakemake.input.split)  # noqa: F821
values, _ = load_values(snakemake.input.values, **split_sizes(split))  # noqa: F821
service = ServiceModel.load(snakemake.input.model)  # noqa: F821
k = min(p.samples, len(split["y_test"]))
x_test, y_test = split["x_test"][:k], split["y_test"][:k]
own = per_sample_values(values[:, :k], y_test)  # [n, k]
predicted = service.proba(x_test).argmax(1)
plot_top_contributors(x_test, y_test, predicted, split["x_train"], split["y_train"], own,
                      snakemake.output.png.removesuffix(".png"),  # noqa: F821
                      title=f"{wc.method}: top-10 training images per test image ({p.dataset})")
log.info("grid of %d test samples written", k)
