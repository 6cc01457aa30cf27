"""Rule probes: the explainer pool, validation set and test samples whose utilities every table holds."""

import numpy as np
from common import start

from fastdatashapley.data import POOL, TEST, VALIDATION, load_configured, standardise_by_train, take_probes
from fastdatashapley.base.io import load_npz, save_npz
from fastdatashapley.engine.service import ServiceModel

log = start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
split = load_npz(snakemake.input.split)  # noqa: F821
ds = standardise_by_train(load_configured(p.data), split["idx_train"])  # table features: by D's statistics
rest = split["idx_rest"]
if p.pool_correct_only:
    model = ServiceModel.load(snakemake.input.model)  # noqa: F821
    keep = model.proba(ds.x[rest]).argmax(1) == ds.y[rest]
    log.info("%d of %d candidates are classified correctly by f_D", int(keep.sum()), len(rest))
else:
    keep = np.ones(len(rest), bool)
val, pool = take_probes(rest, keep, p.n_val, p.n_pool)
idx = np.concatenate([pool, val, split["idx_test"]])
role = np.repeat(np.array([POOL, VALIDATION, TEST], np.int8), [len(pool), len(val), len(split["idx_test"])])
log.info("probes: %d pool, %d val, %d test", len(pool), len(val), len(split["idx_test"]))
save_npz(snakemake.output.probes, x=ds.x[idx], y=ds.y[idx], idx=idx, role=role)  # noqa: F821
