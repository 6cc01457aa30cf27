"""Rule service_model: train f_D from the seeded null model and record its accuracy."""

import time

import numpy as np
from common import start

from fastdatashapley.data import load_configured, standardise_by_train
from fastdatashapley.base.io import load_npz, write_json
from fastdatashapley.engine.service import accuracy, fit_service_model
from fastdatashapley.engine.training import TrainerSpec

log = start(snakemake)  # noqa: F821
p = snakemake.params  # noqa: F821
split = load_npz(snakemake.input.split)  # noqa: F821
x, y = split["x_train"], split["y_train"]
spec = TrainerSpec(in_shape=tuple(x.shape[1:]), n_classes=int(split["n_classes"]), utility="last", **p.service)
t0 = time.perf_counter()
model = fit_service_model(spec, x, y, seed=p.seed, device=p.device)
seconds = time.perf_counter() - t0
ds = standardise_by_train(load_configured(p.data), split["idx_train"])  # table features: by D's statistics
held_out = np.setdiff1d(ds.eval_idx, split["idx_train"])
report = {
    "train_accuracy": accuracy(model, x, y),
    "test_accuracy": accuracy(model, ds.x[held_out], ds.y[held_out]),
    "null_test_accuracy": float((model.null_proba(ds.x[held_out]).argmax(1) == ds.y[held_out]).mean()),
    "n_train": int(len(y)),
    "n_test": int(len(held_out)),
    "train_seconds": round(seconds, 3),
    "spec": spec.to_dict(),
    "seed": p.seed,
}
log.info("service model: %s", report)
model.save(snakemake.output.model)  # noqa: F821
write_json(snakemake.output.report, report)  # noqa: F821
