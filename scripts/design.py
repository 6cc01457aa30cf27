"""Rule design: the coalition masks of one design, seeded by (seed, design)."""

import zlib

import numpy as np
from common import start

from fastdatashapley import coalitions as C
from fastdatashapley.io import read_json, save_npz

log = start(snakemake)  # noqa: F821
p, design = snakemake.params, snakemake.wildcards.design  # noqa: F821
seed = [p.seed, zlib.crc32(design.encode())]
owner = np.zeros(0, np.int64)
if design == "kernel":
    masks = C.kernel_masks(p.n, p.size, paired=True, seed=seed)
elif design == "exact":
    masks = C.all_masks(p.n)
elif design == "loo":
    masks = C.loo_masks(p.n)
else:
    groups = [np.asarray(g) for g in read_json(snakemake.input.groups)["groups"]]  # noqa: F821
    if design == "gfds":
        masks, owner = C.gfds_masks(groups, p.n, p.size, seed=seed)
    else:
        masks = C.group_kernel_masks(groups, p.n, p.size, seed=seed)
log.info("design %s: %d coalitions over n = %d, mean size %.1f", design, len(masks), p.n, masks.sum(1).mean())
save_npz(snakemake.output.design, masks=masks, owner=owner)  # noqa: F821
