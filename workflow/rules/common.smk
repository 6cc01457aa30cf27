# Helpers shared by all rule files (config validation against the registry-completed schema, the run's
# paths, names derived from the registries, and the get_* input functions). Each rule file owns its rules
# and the targets it adds to FINAL. Values reach rules through params, so editing a config value reruns
# exactly the jobs that use it.
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from fastdatashapley.workflow.config_checks import (
    ConfigError,
    check_config,
    config_error_message,
)
from fastdatashapley.workflow.config_schema import complete_schema, validate_config
from fastdatashapley.games.designs import DESIGNS
from fastdatashapley.games.designs import design_options as _design_options
from fastdatashapley.games.designs import design_size as _design_size
from fastdatashapley.methods import BASELINE, EXPLAINER, METHODS, PER_SAMPLE, of_kind
from fastdatashapley.methods.tmc import (
    permutations_for_budget as tmc_permutations_for_budget,
)
from fastdatashapley.base.registry import load_plugins, wildcard_pattern


def sorted_keys(obj):
    """``obj`` with the keys of every mapping in sorted order."""
    if isinstance(obj, dict):
        return {key: sorted_keys(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_keys(item) for item in obj]
    return obj


# Plugins register methods, designs or datasets; they must be imported before the schema is completed.
# Schema errors and what the schema cannot check (sizes against the dataset, CUDA) stop the run in one line.
load_plugins(config.get("plugins") or [])
with open(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml") as _f:
    _schema = complete_schema(yaml.safe_load(_f))
try:
    validate_config(config, _schema)
    check_config(config, check_device=getattr(workflow, "local_exec", True))
except ConfigError as exc:
    raise ConfigError(config_error_message(exc)) from None
# Snakemake compares params by their repr, so the key order of a config file (or of the schema's
# defaults) must not count as an edit: every config section reaches the rules key-sorted.
_canonical = sorted_keys(config)
config.clear()
config.update(_canonical)

# One results folder per seed of `seeds`: the first seed's is results/<run>, every further seed's
# results/<run>/seeds/<seed>, with the same layout. Rules name it with the {rundir} wildcard, so the seed-dependent
# DAG is built once per seed; seed_of(wildcards) is its seed. Seed-independent jobs (prepare_data) write to ROOT.
SEEDS = config["seeds"]
ROOT = f"results/{config['run']}"
RUNDIRS = {
    (ROOT if s == SEEDS[0] else f"{ROOT}/seeds/{s}").removeprefix("results/"): s
    for s in SEEDS
}
MAIN_RUNDIR = next(iter(RUNDIRS))
R = "results/{rundir}"
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"
TABLES = f"{R}/tables"
FIGURES = f"{R}/figures"
GPUS = 1 if config["device"] == "cuda" else 0
DATA = config["data"]
SPLIT = config["split"]
COAL = config["coalitions"]
# A shard trains its rows in engine runs over aligned blocks of this many design rows, so tables do not depend
# on the shard size when it is a multiple of the block (compute_table's ``block``): one local shard per design
# computes exactly what shards of 256 compute on a cluster.
ENGINE_BLOCK = 256
# coalitions.shard_size: auto, under a cluster executor
CLUSTER_SHARD_SIZE = ENGINE_BLOCK
EVAL = config["evaluation"]
EXPL = config["explainers"]
BASELINES = config["baselines"]
BUDGET = config["budget_curve"]
N_TRAIN = SPLIT["n_train"]

# Every artifact that `snakemake` (rule all) builds for the first seed; each rule file appends its own, as
# patterns over {rundir}. SEED_TABLES: the tables each further seed builds and tables/<name>_seeds.csv aggregates.
FINAL = []
SEED_TABLES = []

EXPLAINER_NAMES = [m.name for m in of_kind(EXPLAINER)]
BASELINE_NAMES = [m.name for m in of_kind(BASELINE)]
# Report order of methods: the registry's order, then KernelSHAP (accuracy study only).
METHOD_ORDER = [*METHODS.names(), "kernelshap"]
# (scope, method) of every valued method: explainers per sample, then each baseline in each configured scope.
VALUED = [(PER_SAMPLE, m) for m in EXPL["methods"]] + [
    (s, m)
    for s in BASELINES["scopes"]
    for m in BASELINES["methods"]
    if s in METHODS.get(m).scopes
]


wildcard_constraints:
    rundir=wildcard_pattern(RUNDIRS),


def seed_of(wildcards):
    """The seed of the results folder {rundir}."""
    return RUNDIRS[wildcards.rundir]


def at(wildcards, path):
    """``path`` (a pattern over {rundir}) in the results folder of these wildcards."""
    return path.replace("{rundir}", wildcards.rundir)


def design_size(design):
    """Number of coalitions (table rows) of a coalition design."""
    return _design_size(design, N_TRAIN, config)


def design_options(design):
    """The sampler options of a design set outside coalitions (lds: alpha), else {}."""
    return _design_options(design, config)


def shard_rows(rows):
    """Sub-models per shard of a design of ``rows`` rows. auto: the whole design in one shard when jobs run on
    this machine (every shard job takes all cores, so local shards would run one after another, each paying
    start-up); CLUSTER_SHARD_SIZE under a cluster executor, whose jobs (remote_exec) see the same value.
    """
    size = COAL["shard_size"]
    if size != "auto":
        return size
    if workflow.local_exec and not workflow.remote_exec:
        return rows
    return CLUSTER_SHARD_SIZE


def shard_size(design):
    """Sub-models per shard of a design of the main run."""
    return shard_rows(design_size(design))


def shard_ids(design):
    return range(-(-design_size(design) // shard_size(design)))


def method_trainer(method):
    """The trainer (full or approx) of the table a method reads: explainers' from the config."""
    if method in EXPLAINER_NAMES:
        return EXPL["trainer"][method]
    return METHODS.get(method).trainer


def method_table(method):
    """The utility table a method reads (a pattern over {rundir}), or None."""
    design = METHODS.get(method).design
    return f"{R}/utility/{design}-{method_trainer(method)}.npz" if design else None


def method_benchmarks(scope, method):
    """The benchmark files (patterns over {rundir}) of every job a method's values cost (for the cost table)."""
    if method in EXPLAINER_NAMES and scope == PER_SAMPLE:
        own = [f"{BENCH}/explainers/{method}.tsv"]
    else:
        own = [f"{BENCH}/baselines/{scope}/{method}.tsv"]
    design = METHODS.get(method).design
    if design is None:
        return own
    trainer = method_trainer(method)
    shards = [f"{BENCH}/shards/{design}-{trainer}/{i}.tsv" for i in shard_ids(design)]
    return own + shards + [f"{BENCH}/merge/{design}-{trainer}.tsv"]


def benchmarks_by_method(wildcards):
    """{"<scope>/<method>": benchmark files of every job its values cost}. Called while the DAG is built, when the
    executor (and so coalitions.shard_size: auto) is known, never at parse time."""
    return {
        f"{s}/{m}": [at(wildcards, b) for b in method_benchmarks(s, m)]
        for s, m in VALUED
    }


# Input functions and settings of the rule files (get_* give a rule's inputs).


def get_design_groups(wildcards):
    """Designs over groups need the groups."""
    if DESIGNS.get(wildcards.design).groups:
        return {"groups": at(wildcards, f"{R}/groups.json")}
    return {}


def get_benchmarks(wildcards):
    """Every benchmark file the cost table reads."""
    return [b for files in benchmarks_by_method(wildcards).values() for b in files]


def get_shards(wildcards):
    """The shard files that make up utility table {design}-{trainer}."""
    return [
        at(wildcards, f"{R}/shards/{wildcards.design}-{wildcards.trainer}/{i}.npz")
        for i in shard_ids(wildcards.design)
    ]


def get_baseline_table(wildcards):
    """The utility table of the baseline's design, if it has one."""
    table = method_table(wildcards.method)
    return {"table": at(wildcards, table)} if table else {}


def get_lds_exact(wildcards):
    """The exact values, when the run enumerates every coalition: their LDS is the ceiling of an additive vector."""
    return {"exact": at(wildcards, f"{R}/values/exact.npz")} if COAL["exact"] else {}


def get_explainer_inputs(wildcards):
    """The explainer's utility table, and the groups when its design has them."""
    inputs = {"table": at(wildcards, method_table(wildcards.method))}
    if DESIGNS.get(METHODS.get(wildcards.method).design).groups:
        inputs["groups"] = at(wildcards, f"{R}/groups.json")
    return inputs


def explainer_settings(method):
    """The settings one explainer depends on (so editing another method's trainer or lr does not rerun it)."""
    keep = {
        k: v for k, v in EXPL.items() if k not in ("methods", "trainer", "lr_by_method")
    }
    lr = EXPL.get("lr_by_method", {}).get(method, EXPL["lr"])
    return {**keep, "lr": lr, "trainer": method_trainer(method)}


def get_grouping_shards(wildcards):
    """A study table is one shard (its design is small)."""
    return [
        at(
            wildcards,
            f"{R}/grouping/{wildcards.grouping}/shards/{wildcards.design}-{wildcards.trainer}/0.npz",
        )
    ]


def grouping_config(grouping):
    """The grouping section of one study grouping (the config's n_groups)."""
    kind, features = grouping.split("-", 1)
    return {**config["grouping"], "kind": kind, "features": features}


# The budget study: each (method, budget) point of budget_curve, and where its table and values come from.
# A study design is the main design of the same name (same seed stream, shard size and engine blocks) with
# budget rows, so where the main run has a design of that size its table and explainer are reused.
BUDGET_POINTS = [(m, b) for m in BUDGET["methods"] for b in sorted(BUDGET["budgets"])]
# The study's per-sample KernelSHAP reads the table FDS trains on, with the full trainer.
KERNELSHAP_DESIGN = METHODS.get("fds").design


def budget_dir(budget):
    return f"{R}/budget/{budget}"


def budget_table(budget, design, trainer):
    """The utility table of ``design`` with ``budget`` rows: the main run's when its design has that size."""
    if design_size(design) == budget:
        return f"{R}/utility/{design}-{trainer}.npz"
    return f"{budget_dir(budget)}/utility/{design}-{trainer}.npz"


def budget_values(method, budget):
    """The per-sample values of one budget-curve point (an explainer of the main run's size is the main one)."""
    if method in EXPLAINER_NAMES and design_size(METHODS.get(method).design) == budget:
        return f"{R}/values/per_sample/{method}.npz"
    return f"{budget_dir(budget)}/values/per_sample/{method}.npz"


def budget_tmc_settings(budget):
    """Per-sample TMC at about ``budget`` retrainings: untruncated, with the permutation count nearest it."""
    return {
        **BASELINES["tmc"],
        "n_permutations": tmc_permutations_for_budget(budget, N_TRAIN),
        "tolerance": 0,
    }


def get_budget_shards(wildcards):
    """The shard files that make up a budget study's utility table {design}-{trainer}."""
    budget = int(wildcards.budget)
    folder = f"{budget_dir(budget)}/shards/{wildcards.design}-{wildcards.trainer}"
    return [
        at(wildcards, f"{folder}/{i}.npz")
        for i in range(-(-budget // shard_rows(budget)))
    ]


def get_budget_explainer_inputs(wildcards):
    """A budget-curve explainer's table (its design with budget rows) and, for group designs, the groups."""
    design = METHODS.get(wildcards.method).design
    table = budget_table(
        int(wildcards.budget), design, method_trainer(wildcards.method)
    )
    inputs = {"table": at(wildcards, table)}
    if DESIGNS.get(design).groups:
        inputs["groups"] = at(wildcards, f"{R}/groups.json")
    return inputs


def get_budget_kernel_table(wildcards):
    return at(wildcards, budget_table(int(wildcards.budget), KERNELSHAP_DESIGN, "full"))
