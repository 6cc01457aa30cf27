"""Rule baseline: one registered baseline's values in one scope (global [n] or per_sample [n, T, m])."""

import time

from common import start

from fastdatashapley.io import load_npz, save_values
from fastdatashapley.methods import METHODS, BaselineContext
from fastdatashapley.service import ServiceModel

log = start(snakemake)  # noqa: F821
p, wc, inp = snakemake.params, snakemake.wildcards, snakemake.input  # noqa: F821
split = load_npz(inp.split)
ctx = BaselineContext(split, ServiceModel.load(inp.model), wc.scope, p.settings, p.seed, p.device,
                      table=inp.table if "table" in inp.keys() else None)
t0 = time.perf_counter()
values, retrained = METHODS.get(wc.method).run(ctx)
seconds = time.perf_counter() - t0
meta = {"method": wc.method, "scope": wc.scope, "settings": p.settings, "seconds": seconds, "retrained": retrained,
        "seed": p.seed, "probe_ids": split["idx_test"].tolist()}
log.info("%s (%s): %d retrainings in %.1f s, values %s", wc.method, wc.scope, retrained, seconds, values.shape)
save_values(snakemake.output.values, values, meta)  # noqa: F821
