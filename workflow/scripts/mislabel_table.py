"""Rule mislabel_table: how well each method's values find the labels the split flipped (AUROC with a bootstrap
CI, F1 at k = n_flipped) and the detection curves.

One score per training point, the lowest suspected first: an explainer's mean own-label value over the explainer
pool (each pool image at its own label), a per-sample baseline's mean own-label value over the test samples, a
global baseline's value itself. The AUROC's CI resamples the images the score averages."""

import numpy as np
import pandas as pd
from common import start

from fastdatashapley.data import POOL
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.base.io import load_npz, load_values, split_sizes
from fastdatashapley.methods import PER_SAMPLE
from fastdatashapley.evaluation.mislabel import detection_curve, mislabel_summary, own_label_values
from fastdatashapley.evaluation.figures import plot_detection_curves
from fastdatashapley.evaluation.tables import method_label, write_table

BATCH = 256  # pool images valued at once: [BATCH, n, m] float64

log = start(snakemake)  # noqa: F821
p, inp, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
split, probes = load_npz(inp.split), load_npz(inp.probes)
sizes, flipped = split_sizes(split), split["flipped"]
if flipped.size == 0:
    raise ValueError(f"{inp.split} flips no label (noise.fraction = {p.noise['fraction']}); set noise.fraction > 0")
pool = np.flatnonzero(probes["role"] == POOL)
x_pool, y_pool = probes["x"][pool], probes["y"][pool]
explainer_files = dict(zip(p.explainer_files, inp.explainers))
log.info("%d of %d labels flipped; explainers scored on %d pool images, baselines on %d test samples",
         flipped.size, sizes["n"], pool.size, sizes["n_test"])


def explainer_own_label(path):
    """Own-label values ``[n, P]`` of the explainer in ``path`` on the pool images."""
    explainer = Explainer.load(path)
    return np.concatenate([explainer.values_for(x_pool[i : i + BATCH], y_pool[i : i + BATCH])
                           for i in range(0, pool.size, BATCH)]).T


rows, curves = [], {}
for (scope, method), path in zip(p.valued, inp["values"]):
    label = method_label(scope, method, p.explainers)
    if scope == PER_SAMPLE and method in p.explainers:
        per_sample = explainer_own_label(explainer_files[method])
    else:
        values, _ = load_values(path, **sizes)
        per_sample = values if values.ndim == 1 else own_label_values(values, split["y_test"])  # [n] or [n, T]
    rows.append({"method": label, **mislabel_summary(per_sample, flipped, seed=p.seed)})
    curves[label] = detection_curve(per_sample if per_sample.ndim == 1 else per_sample.mean(axis=1), flipped)
frame = pd.DataFrame(rows)
write_table(frame[["method", "auroc", "auroc_ci_low", "auroc_ci_high", "f1_at_k", "n_flipped"]], out.csv, out.md)
title = f"Mislabel detection on {p.dataset}: {flipped.size} of {sizes['n']} labels flipped"
plot_detection_curves(curves, out.figure.removesuffix(".png"), order=p.order, title=title)
log.info("mislabel detection:\n%s", frame.to_string())
