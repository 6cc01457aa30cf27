# What every rule file shares. Config validation against the registry-completed schema, the config's sections,
# names derived from the registries, shared helpers, and get_final_output() (rule all's inputs, from each rule
# file's *_TARGETS). Paths come from paths.smk and the rule files' input functions and params from functions.smk.
# Values reach rules through params, so editing a config value reruns exactly the jobs that use it.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from fastdatashapley.workflow.config_checks import ConfigError, config_error_message
from fastdatashapley.workflow.config_schema import check_workflow_config
from fastdatashapley.games.designs import DESIGNS
from fastdatashapley.games.designs import design_options as _design_options
from fastdatashapley.games.designs import design_size as _design_size
from fastdatashapley.methods import BASELINE, EXPLAINER, METHODS, PER_SAMPLE, of_kind
from fastdatashapley.methods.explainers import BANZHAF_VALUES, section_settings
from fastdatashapley.methods.tmc import (
    permutations_for_budget as tmc_permutations_for_budget,
)
from fastdatashapley.base.registry import wildcard_pattern


def sorted_keys(obj):
    """``obj`` with the keys of every mapping in sorted order."""
    if isinstance(obj, dict):
        return {key: sorted_keys(obj[key]) for key in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_keys(item) for item in obj]
    return obj


# The config's size and numbers, then plugins (they register methods, designs or datasets, so they are imported
# before the schema is completed), the schema, and what the schema cannot check (sizes against the dataset, the
# designs' bounds, CUDA): any problem stops the run in one line.
try:
    check_workflow_config(
        config,
        Path(workflow.basedir) / "workflow/schemas/config.schema.yaml",
        check_device=getattr(workflow, "local_exec", True),
    )
except ConfigError as exc:
    raise ConfigError(config_error_message(exc)) from None
# Snakemake compares params by their repr, so the key order of a config file (or of the schema's
# defaults) must not count as an edit: every config section reaches the rules key-sorted.
_canonical = sorted_keys(config)
config.clear()
config.update(_canonical)

GPUS = 1 if config["device"] == "cuda" else 0
# torch threads of a job that trains networks; Snakemake lowers it to --cores. One thread a job lets independent
# jobs run side by side: on 2 cores, two one-thread jobs finish in about 0.6 of the time two-thread ones take.
THREADS = workflow.cores if config["threads"] == "all" else config["threads"]
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
N_TRAIN = SPLIT["n_train"]

EXPLAINER_NAMES = [m.name for m in of_kind(EXPLAINER)]
# The configured explainers of Shapley values (the exact-value comparison leaves out the Banzhaf ones).
SHAPLEY_EXPLAINERS = [m for m in EXPL["methods"] if m not in BANZHAF_VALUES]
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
    if design is None:
        return None
    return MAIN.file("utility", design=design, trainer=method_trainer(method))


def get_seed_tables():
    """The tables each further seed builds and tables/<name>_seeds.csv aggregates: each rule file's *_SEED_TABLES."""
    return [
        *REPORT_SEED_TABLES,
        *LDS_SEED_TABLES,
        *MISLABEL_SEED_TABLES,
        *EXACT_SEED_TABLES,
    ]


def get_final_output():
    """Every file that `snakemake` builds by default: each rule file's *_TARGETS in the first seed's results
    folder, and SEEDS_TARGETS for every table of get_seed_tables()."""
    targets = [
        *DATA_TARGETS,
        *BASELINES_TARGETS,
        *EXPLAINERS_TARGETS,
        *REPORT_TARGETS,
        *LDS_TARGETS,
        *MISLABEL_TARGETS,
        *BUDGET_TARGETS,
        *EXACT_TARGETS,
        *GROUPING_TARGETS,
    ]
    main = [fill(t, rundir=MAIN_RUNDIR) for t in targets]
    return main + [fill(t, table=n) for t in SEEDS_TARGETS for n in get_seed_tables()]
