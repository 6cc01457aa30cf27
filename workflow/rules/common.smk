# Shared names for all rule files. Values that rules use reach them through params (so that
# editing a config value reruns exactly the jobs that it affects).


def sorted_keys(obj):
    """``obj`` with the keys of every mapping in sorted order."""
    if isinstance(obj, dict):
        return {key: sorted_keys(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_keys(item) for item in obj]
    return obj


# Snakemake compares params by their repr, so the key order of a config file (or of the schema's
# defaults) must not count as an edit: every config section reaches the rules key-sorted.
_canonical = sorted_keys(config)
config.clear()
config.update(_canonical)

R = f"results/{config['run']}"
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"
GPUS = 1 if config["device"] == "cuda" else 0
DATA = config["data"]
SPLIT = config["split"]

# Every artifact that `snakemake` (rule all) builds; each rule file appends its own.
FINAL = [
    f"{R}/data/manifest.json",
    f"{R}/service_model.json",
    f"{R}/probes.npz",
]

COAL = config["coalitions"]
N_TRAIN = SPLIT["n_train"]


def design_size(design):
    """Number of coalitions (table rows) of a coalition design."""
    sizes = {
        "kernel": COAL["kernel"],
        "gfds": COAL["gfds"],
        "gfds_plus": COAL["gfds_plus"],
        "exact": 2**N_TRAIN,
        "loo": N_TRAIN + 1,
    }
    return sizes[design]


def shard_ids(design):
    return range(-(-design_size(design) // COAL["shard_size"]))


def shards_of(wildcards):
    """The shard files that make up utility table {design}-{trainer}."""
    return [
        f"{R}/shards/{wildcards.design}-{wildcards.trainer}/{i}.npz"
        for i in shard_ids(wildcards.design)
    ]


def design_inputs(wildcards):
    """Designs over groups need the groups."""
    if wildcards.design in ("gfds", "gfds_plus"):
        return {"groups": f"{R}/groups.json"}
    return {}


def baseline_inputs(wildcards):
    """LOO reads the loo design's utility table; the other baselines retrain through the engine."""
    if wildcards.method == "loo":
        return {"table": f"{R}/utility/loo-full.npz"}
    return {}


BASELINES = config["baselines"]
FINAL += expand(
    f"{R}/values/{{scope}}/{{method}}.npz",
    scope=BASELINES["scopes"],
    method=BASELINES["methods"],
)


EVAL = config["evaluation"]
_curve = (
    [
        round(EVAL["curve_step"] * i, 4)
        for i in range(int(EVAL["curve_max"] / EVAL["curve_step"] + 1e-9) + 1)
    ]
    if EVAL["curve_step"] > 0
    else [0.0]
)
FRACTIONS = sorted(set(_curve) | {round(e, 4) for e in EVAL["etas"]} | {0.0})
# (scope, method) of every valued method: explainers are per sample; baselines in each configured scope.
VALUED = [(s, m) for s in BASELINES["scopes"] for m in BASELINES["methods"]]


EXPL = config["explainers"]
# Which coalition design each explainer trains on.
EXPLAINER_DESIGN = {
    "fds": "kernel",
    "afds": "kernel",
    "gfds": "gfds",
    "gfds+": "gfds_plus",
}


def explainer_trainer(method):
    return EXPL["trainer"][method]


def explainer_inputs(wildcards):
    design = EXPLAINER_DESIGN[wildcards.method]
    inputs = {
        "table": f"{R}/utility/{design}-{explainer_trainer(wildcards.method)}.npz"
    }
    if design != "kernel":
        inputs["groups"] = f"{R}/groups.json"
    return inputs


def explainer_settings(method):
    """The settings one explainer depends on (so editing another method's trainer does not rerun it)."""
    keep = {k: v for k, v in EXPL.items() if k not in ("methods", "trainer")}
    return {**keep, "trainer": explainer_trainer(method)}


VALUED = [("per_sample", m) for m in EXPL["methods"]] + VALUED
FINAL += [f"{R}/values/per_sample/{m}.npz" for m in EXPL["methods"]]


def method_benchmarks(scope, method):
    """The benchmark files of every job a method's values cost (for the cost table)."""
    if scope == "per_sample" and method in EXPLAINER_DESIGN:
        design, trainer = EXPLAINER_DESIGN[method], explainer_trainer(method)
        own = [f"{BENCH}/explainers/{method}.tsv"]
    else:
        design, trainer = ("loo", "full") if method == "loo" else (None, None)
        own = [f"{BENCH}/baselines/{scope}/{method}.tsv"]
    if design is None:
        return own
    shards = [f"{BENCH}/shards/{design}-{trainer}/{i}.tsv" for i in shard_ids(design)]
    return own + shards + [f"{BENCH}/merge/{design}-{trainer}.tsv"]


LOSSES = [f"{R}/removal/{s}/{m}.npz" for s, m in VALUED]
VALUES = [f"{R}/values/{s}/{m}.npz" for s, m in VALUED]
BENCHMARKS = {f"{s}/{m}": method_benchmarks(s, m) for s, m in VALUED}
TABLES = f"{R}/tables"
FIGURES = f"{R}/figures"
FINAL += [
    f"{TABLES}/value_loss.csv",
    f"{TABLES}/cost.csv",
    f"{FIGURES}/value_loss.png",
]
FINAL += [f"{FIGURES}/top10_{m}.png" for m in EXPL["methods"]]

if COAL["exact"]:
    FINAL += [f"{TABLES}/accuracy_vs_exact.csv"]

GROUPING_RESULTS = [f"{R}/grouping/label-label.json"] + [
    f"{R}/grouping/{kind}-{features}.json"
    for kind in ("kmeans", "spectral")
    for features in ("pixels", "outputs", "embeddings")
]
if EVAL["grouping_study"]:
    FINAL += [f"{TABLES}/grouping.csv"]
