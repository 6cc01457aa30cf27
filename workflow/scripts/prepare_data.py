"""Rule prepare_data: make sure the dataset's files are readable and write a manifest."""

import time

import numpy as np
from common import start

from fastdatashapley.data import load_configured
from fastdatashapley.base.io import write_json

log = start(snakemake)  # noqa: F821
p = snakemake.params.data  # noqa: F821
t0 = time.perf_counter()
ds = load_configured(p)
counts = np.bincount(ds.y, minlength=ds.n_classes)
manifest = {
    "dataset": ds.name,
    "n_images": int(len(ds.y)),
    "in_shape": list(ds.in_shape),
    "n_classes": ds.n_classes,
    "n_train_part": int(len(ds.train_idx)),
    "n_eval_part": int(len(ds.eval_idx)),
    "class_counts": counts.tolist(),
}
log.info("loaded %s in %.1f s: %s", ds.name, time.perf_counter() - t0, manifest)
write_json(snakemake.output.manifest, manifest)  # noqa: F821
