# Coalition designs -> retraining shards -> one validated utility table per (design, trainer).
# trainer: "full" (the service-model settings) or "approx" (AFDS: K epochs at beta * lr).
# Designs come from the registry (fastdatashapley.designs); group designs read the groups.


wildcard_constraints:
    design=wildcard_pattern(DESIGNS.names()),
    trainer="full|approx",
    shard=r"\d+",


rule groups:
    input:
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        groups=MAIN.file("groups"),
    log:
        MAIN.log("groups"),
    benchmark:
        MAIN.benchmark("groups")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        grouping=config["grouping"],
        seed=seed_of,
    script:
        "../scripts/groups.py"


rule design:
    input:
        unpack(get_design_groups),
    output:
        design=MAIN.file("design"),
    log:
        MAIN.log("design"),
    benchmark:
        MAIN.benchmark("design")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        **design_params(
            size=lambda wc: design_size(wc.design), stream=lambda wc: wc.design
        ),
    script:
        "../scripts/design.py"


rule shard:
    input:
        design=rules.design.output.design,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        shard=MAIN.file("shard"),
    log:
        MAIN.log("shard"),
    benchmark:
        MAIN.benchmark("shard")
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=GPUS,
    params:
        **shard_params(size=lambda wc: shard_size(wc.design), block=ENGINE_BLOCK),
        threads=config["threads"],  # the thread count moves float rounding: editing it reruns
    script:
        "../scripts/shard.py"


rule merge:
    input:
        shards=get_shards,
    output:
        table=MAIN.file("utility"),
    log:
        MAIN.log("merge"),
    benchmark:
        MAIN.benchmark("merge")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=30,
    script:
        "../scripts/merge.py"
