# Grouping study (paper Table 4): GFDS+ under each grouping function, through the same groups -> design ->
# shard -> merge -> explainer -> removal rules as the main run, with a {grouping} wildcard ("kind-features").
# A study design is seeded by its grouping's name and trained as one shard; removal is at grouping_eta only.

GROUPINGS = ["label-label"] + [
    f"{kind}-{features}"
    for kind in ("kmeans", "spectral")
    for features in ("pixels", "outputs", "embeddings")
]
G = f"{R}/grouping/{{grouping}}"


wildcard_constraints:
    grouping=wildcard_pattern(GROUPINGS),


use rule groups as grouping_groups with:
    output:
        groups=f"{G}/groups.json",
    log:
        f"{LOGS}/grouping/{{grouping}}/groups.log",
    benchmark:
        f"{BENCH}/grouping/{{grouping}}/groups.tsv"
    params:
        grouping=lambda wc: grouping_config(wc.grouping),
        seed=seed_of,


use rule design as grouping_design with:
    input:
        groups=f"{G}/groups.json",
    output:
        design=f"{G}/designs/{{design}}.npz",
    log:
        f"{LOGS}/grouping/{{grouping}}/design/{{design}}.log",
    benchmark:
        f"{BENCH}/grouping/{{grouping}}/design/{{design}}.tsv"
    params:
        n=N_TRAIN,
        size=lambda wc: design_size(wc.design),
        options=lambda wc: design_options(wc.design),
        seed=seed_of,
        stream=lambda wc: wc.grouping,


use rule shard as grouping_shard with:
    input:
        design=f"{G}/designs/{{design}}.npz",
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        shard=f"{G}/shards/{{design}}-{{trainer}}/{{shard}}.npz",
    log:
        f"{LOGS}/grouping/{{grouping}}/shards/{{design}}-{{trainer}}/{{shard}}.log",
    benchmark:
        f"{BENCH}/grouping/{{grouping}}/shards/{{design}}-{{trainer}}/{{shard}}.tsv"
    params:
        shard_size=lambda wc: design_size(wc.design),
        block=lambda wc: design_size(wc.design),
        approx=lambda wc: config["approx"] if wc.trainer == "approx" else None,
        seed=seed_of,
        device=config["device"],


use rule merge as grouping_merge with:
    input:
        shards=get_grouping_shards,
    output:
        table=f"{G}/utility/{{design}}-{{trainer}}.npz",
    log:
        f"{LOGS}/grouping/{{grouping}}/merge/{{design}}-{{trainer}}.log",
    benchmark:
        f"{BENCH}/grouping/{{grouping}}/merge/{{design}}-{{trainer}}.tsv"


use rule explainer as grouping_explainer with:
    input:
        table=f"{G}/utility/gfds_plus-{method_trainer('gfds+')}.npz",
        groups=f"{G}/groups.json",
        probes=rules.probes.output.probes,
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        explainer=f"{G}/explainers/{{method}}.pt",
        values=f"{G}/values/per_sample/{{method}}.npz",
    log:
        f"{LOGS}/grouping/{{grouping}}/explainers/{{method}}.log",
    benchmark:
        f"{BENCH}/grouping/{{grouping}}/explainers/{{method}}.tsv"
    wildcard_constraints:
        method=r"gfds\+",


use rule removal as grouping_removal with:
    input:
        values=f"{G}/values/{{scope}}/{{method}}.npz",
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        loss=f"{G}/removal/{{scope}}/{{method}}.npz",
    log:
        f"{LOGS}/grouping/{{grouping}}/removal/{{scope}}/{{method}}.log",
    benchmark:
        f"{BENCH}/grouping/{{grouping}}/removal/{{scope}}/{{method}}.tsv"
    params:
        fractions=[EVAL["grouping_eta"]],
        seed=seed_of,
        device=config["device"],


rule grouping_table:
    input:
        losses=[f"{R}/grouping/{g}/removal/per_sample/gfds+.npz" for g in GROUPINGS],
        groups=[f"{R}/grouping/{g}/groups.json" for g in GROUPINGS],
    output:
        csv=report(
            f"{TABLES}/grouping.csv",
            caption="../report/grouping.rst",
            category="Tables",
        ),
        md=f"{TABLES}/grouping.md",
    log:
        f"{LOGS}/grouping_table.log",
    benchmark:
        f"{BENCH}/grouping_table.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        groupings=GROUPINGS,
    script:
        "../scripts/grouping_table.py"


if EVAL["grouping_study"]:

    FINAL += [f"{TABLES}/grouping.csv"]
