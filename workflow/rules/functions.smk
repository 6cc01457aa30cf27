# The functions of the rule files, one section per file. get_* give a rule's inputs, *_params and *_settings its
# params, the others the paths those need. They are here, not beside their rules, because snakemake --lint (run by
# tests/test_conventions.py) flags a file that defines both rules and functions. Each rule file keeps its
# constants, its study's Paths and its *_TARGETS.


# -- data.smk -------------------------------------------------------------------------------------


def get_data_files(wildcards):
    """Your own data (data.path: a file or a folder), so that a newer one reruns the data jobs."""
    return {"data": DATA["path"]} if "path" in DATA else {}


# -- coalitions.smk ------------------------------------------------------------------------------


def get_design_groups(wildcards):
    """Designs over groups need the groups."""
    if DESIGNS.get(wildcards.design).groups:
        return {"groups": at(wildcards, MAIN.file("groups"))}
    return {}


def get_shards(wildcards):
    """The shard files that make up utility table {design}-{trainer}."""
    table = {"design": wildcards.design, "trainer": wildcards.trainer}
    return [
        at(wildcards, MAIN.file("shard", **table, shard=i))
        for i in shard_ids(wildcards.design)
    ]


def design_params(size, stream):
    """A design job's params (the main rule's and each study's): its size and seed stream, functions of the
    wildcards."""
    return {
        "n": N_TRAIN,
        "size": size,
        "options": lambda wc: design_options(wc.design),
        "seed": seed_of,
        "stream": stream,
    }


def shard_params(size, block):
    """A shard job's params (the main rule's and each study's): its shard size and engine block, functions of the
    wildcards or numbers."""
    return {
        "shard_size": size,
        "block": block,
        "approx": lambda wc: config["approx"] if wc.trainer == "approx" else None,
        "seed": lambda wc: seed_of(wc) + DESIGNS.get(wc.design).reseed,
        "device": config["device"],
    }


# -- baselines.smk -------------------------------------------------------------------------------


def get_baseline_table(wildcards):
    """The utility table of the baseline's design, if it has one."""
    table = method_table(wildcards.method)
    return {"table": at(wildcards, table)} if table else {}


# -- explainers.smk ------------------------------------------------------------------------------


def get_explainer_inputs(wildcards):
    """The explainer's utility table, and the groups when its design has them."""
    inputs = {"table": at(wildcards, method_table(wildcards.method))}
    if DESIGNS.get(METHODS.get(wildcards.method).design).groups:
        inputs["groups"] = at(wildcards, MAIN.file("groups"))
    return inputs


def explainer_settings(method):
    """The settings one explainer depends on (methods.explainers.section_settings)."""
    return section_settings(method, EXPL)


# -- report.smk ----------------------------------------------------------------------------------


def method_benchmarks(scope, method):
    """The benchmark files (patterns over {rundir}) of every job a method's values cost (for the cost table)."""
    if method in EXPLAINER_NAMES and scope == PER_SAMPLE:
        own = [MAIN.benchmark("explainer", method=method)]
    else:
        own = [MAIN.benchmark("baseline", scope=scope, method=method)]
    design = METHODS.get(method).design
    if design is None:
        return own
    table = {"design": design, "trainer": method_trainer(method)}
    shards = [MAIN.benchmark("shard", **table, shard=i) for i in shard_ids(design)]
    return own + shards + [MAIN.benchmark("merge", **table)]


def benchmarks_by_method(wildcards):
    """{"<scope>/<method>": benchmark files of every job its values cost}. Called while the DAG is built, when the
    executor (and so coalitions.shard_size: auto) is known, never at parse time."""
    return {
        f"{s}/{m}": [at(wildcards, b) for b in method_benchmarks(s, m)]
        for s, m in VALUED
    }


def get_benchmarks(wildcards):
    """Every benchmark file the cost table reads."""
    return [b for files in benchmarks_by_method(wildcards).values() for b in files]


# -- lds.smk -------------------------------------------------------------------------------------


def get_lds_exact(wildcards):
    """The exact values, when the run enumerates every coalition: their LDS is the ceiling of an additive vector."""
    return {"exact": at(wildcards, MAIN.file("exact"))} if COAL["exact"] else {}


# -- budget.smk ----------------------------------------------------------------------------------

# A study design is the main design of the same name (same seed stream, shard size and engine blocks) with budget
# rows, so where the main run has a design of that size its table and explainer are reused.


def budget_table(budget, design, trainer):
    """The utility table of ``design`` with ``budget`` rows: the main run's when its design has that size."""
    paths = MAIN if design_size(design) == budget else BUDGET_STUDY
    return paths.file("utility", budget=budget, design=design, trainer=trainer)


def budget_values(method, budget):
    """The per-sample values of one budget-curve point (an explainer of the main run's size is the main one)."""
    reused = (
        method in EXPLAINER_NAMES and design_size(METHODS.get(method).design) == budget
    )
    paths = MAIN if reused else BUDGET_STUDY
    return paths.file("values", budget=budget, scope=PER_SAMPLE, method=method)


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
    table = {"budget": budget, "design": wildcards.design, "trainer": wildcards.trainer}
    return [
        at(wildcards, BUDGET_STUDY.file("shard", **table, shard=i))
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
        inputs["groups"] = at(wildcards, MAIN.file("groups"))
    return inputs


def get_budget_kernel_table(wildcards):
    return at(wildcards, budget_table(int(wildcards.budget), KERNELSHAP_DESIGN, "full"))


# -- grouping.smk --------------------------------------------------------------------------------


def grouping_config(grouping):
    """The grouping section of one study grouping (the config's n_groups)."""
    kind, features = grouping.split("-", 1)
    return {**config["grouping"], "kind": kind, "features": features}


def get_grouping_shards(wildcards):
    """A study table is one shard (its design is small)."""
    table = {"design": wildcards.design, "trainer": wildcards.trainer}
    shard = GROUPING_STUDY.file("shard", grouping=wildcards.grouping, **table, shard=0)
    return [at(wildcards, shard)]
