"""Rule shard: train one shard of a coalition design through the engine and save its utility table."""

from common import start

from fastdatashapley.base.io import load_npz
from fastdatashapley.engine.retrainer import Retrainer
from fastdatashapley.engine.service import ServiceModel
from fastdatashapley.engine.utility_table import compute_table

log = start(snakemake)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
shard = int(wc.shard)
masks = load_npz(snakemake.input.design)["masks"][shard * p.shard_size : (shard + 1) * p.shard_size]  # noqa: F821
if len(masks) == 0:
    raise ValueError(f"shard {shard} of design {wc.design} is empty; coalitions.shard_size changed without a rerun of the design")
split, probes = load_npz(snakemake.input.split), load_npz(snakemake.input.probes)  # noqa: F821
service = ServiceModel.load(snakemake.input.model)  # noqa: F821
spec = service.spec if p.approx is None else service.spec.approx(**p.approx)
log.info("training %d coalitions of design %s with %s", len(masks), wc.design, spec)
retrainer = Retrainer(spec, service.null_state, split["x_train"], split["y_train"], seed=p.seed, device=p.device)
table = compute_table(
    retrainer,
    masks,
    probes["x"],
    probes["idx"],
    meta={"design": wc.design, "shard": {"index": shard, "first_row": shard * p.shard_size}},
    progress=True,
    first_row=shard * p.shard_size,
    block=p.block,
)
table.save(snakemake.output.shard)  # noqa: F821
log.info("saved %s", snakemake.output.shard)  # noqa: F821
