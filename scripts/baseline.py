"""Rule baseline: one baseline's values in one scope (global [n] or per_sample [n, T, m])."""

import time

import numpy as np
from common import start

from fastdatashapley import baselines as B
from fastdatashapley import shapley
from fastdatashapley.io import load_npz, save_values
from fastdatashapley.service import ServiceModel
from fastdatashapley.utility_table import UtilityTable

log = start(snakemake)  # noqa: F821
p, wc = snakemake.params, snakemake.wildcards  # noqa: F821
method, scope, cfg = wc.method, wc.scope, p.settings
split = load_npz(snakemake.input.split)  # noqa: F821
service = ServiceModel.load(snakemake.input.model)  # noqa: F821
x, y, x_test, y_test = split["x_train"], split["y_train"], split["x_test"], split["y_test"]
n = len(y)
t0 = time.perf_counter()
engine = B.EngineUtility(service.spec, service.null_state, x, y, x_test, y_test, scope, p.seed, p.device)
if method == "loo":
    table = UtilityTable.load(snakemake.input.table)  # noqa: F821
    cols = np.flatnonzero(np.isin(table.probe_ids, split["idx_test"]))
    lookup = table.as_utility()

    def from_table(masks):
        u = lookup(masks)[:, cols]
        return u if scope == "per_sample" else B.accuracy_from_softmax(u, y_test)

    values, retrained = shapley.loo(from_table, n), n + 1
elif method == "random":
    values, retrained = B.random_values(n, len(y_test), service.spec.n_classes, scope, p.seed), 0
elif method == "freeshap":
    values = B.freeshap(service, x, y, x_test, y_test, scope, cfg["n_permutations"], ridge=cfg["ridge"],
                        tolerance=cfg["tolerance"], seed=p.seed, device=p.device)
    retrained = 0
else:
    if method == "tmc":
        values = shapley.tmc(engine, n, cfg["n_permutations"], tolerance=cfg["tolerance"], seed=p.seed,
                             batch_permutations=cfg["batch_permutations"], progress=True)
    elif method == "group_testing":
        values = shapley.group_testing(engine, n, cfg["n_samples"], epsilon=cfg["epsilon"], seed=p.seed)
    else:
        values = B.cs_shapley(engine, cfg["n_contexts"], cfg["n_permutations"], seed=p.seed)
    retrained = engine.retrained
seconds = time.perf_counter() - t0
meta = {"method": method, "scope": scope, "settings": cfg, "seconds": seconds, "retrained": retrained,
        "seed": p.seed, "probe_ids": split["idx_test"].tolist()}
log.info("%s (%s): %d retrainings in %.1f s, values %s", method, scope, retrained, seconds, values.shape)
save_values(snakemake.output.values, values, meta)  # noqa: F821
