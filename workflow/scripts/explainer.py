"""Rule explainer: fit one registered explainer on its utility table; value the test samples."""

import numpy as np
from common import start

from fastdatashapley.base.io import load_npz, read_json
from fastdatashapley.engine.service import ServiceModel
from fastdatashapley.engine.utility_table import UtilityTable
from fastdatashapley.explainers.training import ExplainerSettings
from fastdatashapley.methods import ExplainerContext, fit

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
explainer, result = fit(method, ctx, split["x_test"])
if "provider_train" in split:  # a table's data.provider: the CLI's explain --pay pays providers
    explainer.meta["providers"] = {"names": split["provider_names"].tolist(), "of_point": split["provider_train"].tolist()}
if "feature_names" in split:  # a table's columns and D's scaling: the CLI's explain --row reads raw table rows
    explainer.meta["features"] = {"names": split["feature_names"].tolist(), "mean": split["feature_mean"].ravel().tolist(),
                                  "std": split["feature_std"].ravel().tolist()}
explainer.save(snakemake.output.explainer)  # noqa: F821
log.info("%s: %d epochs in %.1f s, best validation loss %.3g", method, result.info["epochs"],
         result.info["seconds"], result.info["best_val_loss"])
result.save(snakemake.output.values, method=method, scope="per_sample", settings=p.settings, seed=p.seed,  # noqa: F821
            probe_ids=split["idx_test"].tolist())
