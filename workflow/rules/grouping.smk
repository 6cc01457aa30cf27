# Grouping study (paper Table 4): GFDS+ under each grouping function, through the same groups -> design ->
# shard -> merge -> explainer -> removal rules as the main run, with a {grouping} wildcard ("kind-features").
# A study design is seeded by its grouping's name and trained as one shard; removal is at grouping_eta only.

GROUPINGS = ["label-label"] + [
    f"{kind}-{features}"
    for kind in ("kmeans", "spectral")
    for features in ("pixels", "outputs", "embeddings")
]
GROUPING_STUDY = Paths(R, "grouping/{grouping}")


wildcard_constraints:
    grouping=wildcard_pattern(GROUPINGS),


use rule groups as grouping_groups with:
    output:
        groups=GROUPING_STUDY.file("groups"),
    log:
        GROUPING_STUDY.log("groups"),
    benchmark:
        GROUPING_STUDY.benchmark("groups")
    params:
        grouping=lambda wc: grouping_config(wc.grouping),
        seed=seed_of,


use rule design as grouping_design with:
    input:
        groups=rules.grouping_groups.output.groups,
    output:
        design=GROUPING_STUDY.file("design"),
    log:
        GROUPING_STUDY.log("design"),
    benchmark:
        GROUPING_STUDY.benchmark("design")
    params:
        **design_params(
            size=lambda wc: design_size(wc.design), stream=lambda wc: wc.grouping
        ),


use rule shard as grouping_shard with:
    input:
        design=rules.grouping_design.output.design,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        shard=GROUPING_STUDY.file("shard"),
    log:
        GROUPING_STUDY.log("shard"),
    benchmark:
        GROUPING_STUDY.benchmark("shard")
    params:
        **shard_params(
            size=lambda wc: design_size(wc.design),
            block=lambda wc: design_size(wc.design),
        ),


use rule merge as grouping_merge with:
    input:
        shards=get_grouping_shards,
    output:
        table=GROUPING_STUDY.file("utility"),
    log:
        GROUPING_STUDY.log("merge"),
    benchmark:
        GROUPING_STUDY.benchmark("merge")


use rule explainer as grouping_explainer with:
    input:
        table=GROUPING_STUDY.file(
            "utility", design="gfds_plus", trainer=method_trainer("gfds+")
        ),
        groups=rules.grouping_groups.output.groups,
        probes=rules.probes.output.probes,
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        explainer=GROUPING_STUDY.file("explainer"),
        values=GROUPING_STUDY.file("values", scope=PER_SAMPLE),
    log:
        GROUPING_STUDY.log("explainer"),
    benchmark:
        GROUPING_STUDY.benchmark("explainer")
    wildcard_constraints:
        method=r"gfds\+",


use rule removal as grouping_removal with:
    input:
        values=GROUPING_STUDY.file("values"),
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        loss=GROUPING_STUDY.file("removal"),
    log:
        GROUPING_STUDY.log("removal"),
    benchmark:
        GROUPING_STUDY.benchmark("removal")
    params:
        fractions=[EVAL["grouping_eta"]],
        seed=seed_of,
        device=config["device"],


rule grouping_table:
    input:
        losses=[
            GROUPING_STUDY.file(
                "removal", grouping=g, scope=PER_SAMPLE, method="gfds+"
            )
            for g in GROUPINGS
        ],
        groups=[GROUPING_STUDY.file("groups", grouping=g) for g in GROUPINGS],
    output:
        csv=report(
            MAIN.table("grouping.csv"),
            caption="../report/grouping.rst",
            category="Tables",
        ),
        md=MAIN.table("grouping.md"),
    log:
        MAIN.log("grouping_table"),
    benchmark:
        MAIN.benchmark("grouping_table")
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


# What rule all builds from this file (patterns over {rundir}; see get_final_output), with
# evaluation.grouping_study.
GROUPING_TARGETS = [rules.grouping_table.output.csv] if EVAL["grouping_study"] else []
