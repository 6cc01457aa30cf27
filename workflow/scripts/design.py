"""Rule design: the coalition masks of one registered design, seeded by (seed, stream)."""

import numpy as np
from common import start

from fastdatashapley.games.designs import sample
from fastdatashapley.base.io import read_json, save_npz

log = start(snakemake)  # noqa: F821
p, inp, design = snakemake.params, snakemake.input, snakemake.wildcards.design  # noqa: F821
groups = [np.asarray(g) for g in read_json(inp.groups)["groups"]] if "groups" in inp.keys() else None
masks, owner = sample(design, p.n, p.size, p.seed, stream=p.stream, groups=groups, options=p.options)
log.info("design %s: %d coalitions over n = %d, mean size %.1f", design, len(masks), p.n, masks.sum(1).mean())
save_npz(snakemake.output.design, masks=masks, owner=owner)  # noqa: F821
