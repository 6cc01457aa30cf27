rule prepare_data:
    output:
        manifest=f"{ROOT}/data/manifest.json",
    log:
        f"{ROOT}/logs/prepare_data.log",
    benchmark:
        f"{ROOT}/benchmarks/prepare_data.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        data=DATA,
    script:
        "../scripts/prepare_data.py"


rule split:
    input:
        manifest=rules.prepare_data.output.manifest,
    output:
        split=f"{R}/split.npz",
    log:
        f"{LOGS}/split.log",
    benchmark:
        f"{BENCH}/split.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        data=DATA,
        n_train=SPLIT["n_train"],
        n_test=SPLIT["n_test"],
        noise=config["noise"],
        seed=seed_of,
    script:
        "../scripts/split.py"


rule service_model:
    input:
        split=rules.split.output.split,
    output:
        model=f"{R}/models/service.pt",
        report=f"{R}/service_model.json",
    log:
        f"{LOGS}/service_model.log",
    benchmark:
        f"{BENCH}/service_model.tsv"
    conda:
        "../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    params:
        data=DATA,
        service=config["service"],
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/service_model.py"


rule probes:
    input:
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        probes=f"{R}/probes.npz",
    log:
        f"{LOGS}/probes.log",
    benchmark:
        f"{BENCH}/probes.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        data=DATA,
        n_pool=SPLIT["n_pool"],
        n_val=SPLIT["n_val"],
        pool_correct_only=SPLIT["pool_correct_only"],
    script:
        "../scripts/probes.py"


FINAL += [
    rules.prepare_data.output.manifest,
    rules.service_model.output.report,
    rules.probes.output.probes,
]
