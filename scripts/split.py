"""Rule split: draw the service training set D and the evaluation test samples (seeded)."""

from common import start

from fastdatashapley.data import load_configured, make_split
from fastdatashapley.io import save_npz

log = start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
ds = load_configured(p.data)
split = make_split(ds, p.n_train, p.n_test, 0, p.seed)
log.info("D: %d points, test: %d samples, %d candidates left for pool/val", len(split.train), len(split.test), len(split.rest))
save_npz(
    snakemake.output.split,  # noqa: F821
    idx_train=split.train,
    x_train=ds.x[split.train],
    y_train=ds.y[split.train],
    idx_test=split.test,
    x_test=ds.x[split.test],
    y_test=ds.y[split.test],
    idx_rest=split.rest,
    eval_idx=ds.eval_idx,
    n_classes=ds.n_classes,
)
