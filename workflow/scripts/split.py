"""Rule split: draw the service training set D and the evaluation test samples (seeded); with noise.fraction > 0,
flip that fraction of D's labels (metrics.flip_labels, on noise.seed's own stream). Every method trains on the
saved y_train (noisy); y_train_clean and the flipped indices are kept for the mislabel table. Table features are
standardised by D's mean and std (data.standardise_by_train), saved as feature_mean and feature_std [1, 1, d]
with the columns' names (feature_names); a
table's data providers are saved as provider_train (each point of D's code) and provider_names."""

import numpy as np
from common import start

from fastdatashapley.data import load_configured, make_split, standardise_by_train
from fastdatashapley.base.io import save_npz
from fastdatashapley.evaluation.mislabel import flip_labels

log = start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
ds = load_configured(p.data)
split = make_split(ds, p.n_train, p.n_test, 0, p.seed)
ds = standardise_by_train(ds, split.train)
log.info("D: %d points, test: %d samples, %d candidates left for pool/val", len(split.train), len(split.test),
         len(split.rest))
y_clean = ds.y[split.train]
y_noisy, flipped = flip_labels(y_clean, p.noise["fraction"], ds.n_classes, seed=p.noise["seed"])
log.info("noise: %d of %d labels of D flipped (noise.fraction = %g, noise.seed = %d)", len(flipped), len(y_clean),
         p.noise["fraction"], p.noise["seed"])
extra = {}
if ds.feature_mean is not None:
    extra.update(feature_mean=ds.feature_mean, feature_std=ds.feature_std)
    if ds.feature_names:
        extra["feature_names"] = np.array(ds.feature_names)
    log.info("features standardised by D's mean and std (%d features)", ds.feature_mean.size)
if ds.class_names:
    extra["class_names"] = np.array(ds.class_names)
if ds.provider is not None:
    extra.update(provider_train=ds.provider[split.train], provider_names=np.array(ds.provider_names))
    log.info("D holds points of %d of the %d data providers", len(np.unique(extra["provider_train"])),
             len(ds.provider_names))
save_npz(
    snakemake.output.split,  # noqa: F821
    idx_train=split.train,
    x_train=ds.x[split.train],
    y_train=y_noisy,
    y_train_clean=y_clean,
    flipped=flipped,
    idx_test=split.test,
    x_test=ds.x[split.test],
    y_test=ds.y[split.test],
    idx_rest=split.rest,
    eval_idx=ds.eval_idx,
    n_classes=ds.n_classes,
    **extra,
)
