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
        groups=f"{R}/groups.json",
    log:
        f"{LOGS}/groups.log",
    benchmark:
        f"{BENCH}/groups.tsv"
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
        design=f"{R}/designs/{{design}}.npz",
    log:
        f"{LOGS}/design/{{design}}.log",
    benchmark:
        f"{BENCH}/design/{{design}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n=N_TRAIN,
        size=lambda wc: design_size(wc.design),
        options=lambda wc: design_options(wc.design),
        seed=seed_of,
        stream=lambda wc: wc.design,
    script:
        "../scripts/design.py"


rule shard:
    input:
        design=rules.design.output.design,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        shard=f"{R}/shards/{{design}}-{{trainer}}/{{shard}}.npz",
    log:
        f"{LOGS}/shards/{{design}}-{{trainer}}/{{shard}}.log",
    benchmark:
        f"{BENCH}/shards/{{design}}-{{trainer}}/{{shard}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=GPUS,
    params:
        shard_size=lambda wc: shard_size(wc.design),
        block=ENGINE_BLOCK,
        approx=lambda wc: config["approx"] if wc.trainer == "approx" else None,
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/shard.py"


rule merge:
    input:
        shards=get_shards,
    output:
        table=f"{R}/utility/{{design}}-{{trainer}}.npz",
    log:
        f"{LOGS}/merge/{{design}}-{{trainer}}.log",
    benchmark:
        f"{BENCH}/merge/{{design}}-{{trainer}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=30,
    script:
        "../scripts/merge.py"
