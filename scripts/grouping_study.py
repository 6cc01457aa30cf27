"""Rule grouping_study: H_10% of GFDS+ under one grouping function (paper Table 4).

One job per (kind, features): groups -> GFDS+ design -> utility table (engine) -> GFDS+ explainer ->
values of the test samples -> removal of the top eta.
"""

import zlib

import numpy as np
from common import start

from fastdatashapley.coalitions import group_kernel_masks
from fastdatashapley.explainer import fit_explainer
from fastdatashapley.grouping import make_groups
from fastdatashapley.io import load_npz, write_json
from fastdatashapley.removal import value_loss
from fastdatashapley.service import ServiceModel
from fastdatashapley.utility_table import compute_table

log = start(snakemake)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
split, probes = load_npz(snakemake.input.split), load_npz(snakemake.input.probes)  # noqa: F821
service = ServiceModel.load(snakemake.input.model)  # noqa: F821
x, y = split["x_train"], split["y_train"]
groups = make_groups(wc.kind, wc.features, x, y, p.n_groups, service=service, seed=p.seed)
masks = group_kernel_masks(groups, len(y), p.n_samples, seed=[p.seed, zlib.crc32(f"{wc.kind}-{wc.features}".encode())])
spec = service.spec.approx(**p.approx) if p.trainer == "approx" else service.spec
table = compute_table(spec, service.null_state, x, y, masks, probes["x"], probes["idx"], seed=p.seed, device=p.device, progress=True)
s = p.explainer
explainer = fit_explainer(table, probes["x"], probes["role"], service, x, y, method="gfds+", groups=groups,
                          variant=s["gfds_plus_variant"], gamma=s["gamma"], net=s["net"], lr=s["lr"],
                          max_epochs=s["max_epochs"], patience=s["patience"], batch_size=s["batch_size"],
                          coalitions_per_x=s["coalitions_per_x"], seed=p.seed, device=p.device)
values = explainer.values(split["x_test"]).transpose(1, 0, 2)
result = value_loss(service.spec, service.null_state, x, y, split["x_test"], split["y_test"], values, [p.eta],
                    seed=p.seed, device=p.device)
row = {"kind": wc.kind, "features": wc.features, "eta": p.eta, **result.summary()[0], "n_groups": len(groups),
       "group_sizes": [len(g) for g in groups]}
log.info("%s", row)
write_json(snakemake.output.result, row)  # noqa: F821
