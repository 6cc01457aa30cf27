"""Rule groups: the grouping function Psi_N of GFDS and GFDS+ over the training set D."""

from common import start

from fastdatashapley.games.grouping import make_groups
from fastdatashapley.base.io import load_npz, write_json

log = start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
split = load_npz(snakemake.input.split)  # noqa: F821
g = p.grouping
service = None
if g["kind"] not in ("label", "provider") and g["features"] != "pixels":  # only model-based views import torch and read the model
    from fastdatashapley.engine.service import ServiceModel

    service = ServiceModel.load(snakemake.input.model)  # noqa: F821
groups = make_groups(g["kind"], g["features"], split["x_train"], split["y_train"], g["n_groups"], service=service, seed=p.seed,
                     providers=split.get("provider_train"))
log.info("%d groups of sizes %s", len(groups), [len(x) for x in groups])
write_json(snakemake.output.groups, {"groups": [x.tolist() for x in groups], "grouping": g})  # noqa: F821
