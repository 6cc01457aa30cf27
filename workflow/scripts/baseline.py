"""Rule baseline: one registered baseline's values in one scope (global [n] or per_sample [n, T, m])."""

from common import start

from fastdatashapley.base.io import load_npz
from fastdatashapley.engine.service import ServiceModel
from fastdatashapley.methods import BaselineContext, value

log = start(snakemake)  # noqa: F821
p, wc, inp = snakemake.params, snakemake.wildcards, snakemake.input  # noqa: F821
split = load_npz(inp.split)
ctx = BaselineContext(split, ServiceModel.load(inp.model), wc.scope, p.settings, p.seed, p.device,
                      table=inp.table if "table" in inp.keys() else None)
result = value(wc.method, ctx)
log.info("%s (%s): %d retrainings in %.1f s, values %s", wc.method, wc.scope, result.retrained,
         result.info["seconds"], result.values.shape)
result.save(snakemake.output.values, method=wc.method, scope=wc.scope, settings=p.settings, seed=p.seed,  # noqa: F821
            probe_ids=split["idx_test"].tolist())
