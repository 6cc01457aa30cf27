"""Rule removal: H_eta for one method's values: remove each test sample's top training points and retrain."""

import numpy as np
import torch
from common import start

from fastdatashapley.base.io import load_npz, load_values, save_npz, split_sizes
from fastdatashapley.evaluation.removal import value_loss
from fastdatashapley.engine.retrainer import Retrainer
from fastdatashapley.engine.service import ServiceModel

log = start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
split = load_npz(snakemake.input.split)  # noqa: F821
service = ServiceModel.load(snakemake.input.model)  # noqa: F821
values, meta = load_values(snakemake.input.values, **split_sizes(split))  # noqa: F821
if meta.get("probe_ids") is not None and not np.array_equal(meta["probe_ids"], split["idx_test"]):
    raise ValueError(f"{snakemake.input.values} was computed for other test samples than {snakemake.input.split}")  # noqa: F821
fractions = sorted(set(round(float(f), 4) for f in p.fractions))
retrainer = Retrainer(service.spec, service.null_state, split["x_train"], split["y_train"], seed=p.seed,
                      device=p.device)
result = value_loss(retrainer, split["x_test"], split["y_test"], values, fractions, progress=True)
log.info("%d retrainings; H: %s", result.n_retrained, {r["eta"]: round(r["mean"], 3) for r in result.summary()})
save_npz(snakemake.output.loss, fractions=result.fractions, loss=result.loss, n_retrained=result.n_retrained,  # noqa: F821
         torch_threads=torch.get_num_threads())
