"""Rule explainer: fit one registered explainer on its utility table; value the test samples."""

import time

import numpy as np
from common import start

from fastdatashapley.explainer_training import ExplainerSettings
from fastdatashapley.io import load_npz, read_json, save_values
from fastdatashapley.methods import METHODS, ExplainerContext
from fastdatashapley.service import ServiceModel
from fastdatashapley.utility_table import UtilityTable

log = start(snakemake)  # noqa: F821
p, inp, method = snakemake.params, snakemake.input, snakemake.wildcards.method  # noqa: F821
table = UtilityTable.load(inp.table)
probes, split = load_npz(inp.probes), load_npz(inp.split)
if not np.array_equal(table.probe_ids, probes["idx"]):
    raise ValueError(f"{inp.table} holds other probe points than {inp.probes}; rerun its shards")
groups = [np.asarray(g) for g in read_json(inp.groups)["groups"]] if "groups" in inp.keys() else None
settings = ExplainerSettings.from_config(p.settings, seed=p.seed, dataset=p.dataset, device=p.device, progress=True)
ctx = ExplainerContext(method, table, probes, ServiceModel.load(inp.model), split["x_train"], split["y_train"],
                       settings, groups)
t0 = time.perf_counter()
explainer = METHODS.get(method).run(ctx)
seconds = time.perf_counter() - t0
explainer.save(snakemake.output.explainer)  # noqa: F821
t1 = time.perf_counter()
values = explainer.values(split["x_test"]).transpose(1, 0, 2)  # [n, T, m]
latency = (time.perf_counter() - t1) / len(split["x_test"])
meta = {"method": method, "scope": "per_sample", "settings": p.settings, "seconds": seconds,
        "retrained": table.n_coalitions + 1, "epochs": len(explainer.history),
        "best_val_loss": explainer.meta["best_val_loss"], "seconds_per_sample": latency, "seed": p.seed,
        "probe_ids": split["idx_test"].tolist()}
log.info("%s: %d epochs in %.1f s, best validation loss %.3g", method, len(explainer.history), seconds,
         meta["best_val_loss"])
save_values(snakemake.output.values, values, meta)  # noqa: F821
