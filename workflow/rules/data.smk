# The data (once per run), then per seed its split, the service model and the probe sets.


rule prepare_data:
    input:
        unpack(get_data_files),
    output:
        manifest=SHARED.file("manifest"),
    log:
        SHARED.log("prepare_data"),
    benchmark:
        SHARED.benchmark("prepare_data")
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
        split=MAIN.file("split"),
    log:
        MAIN.log("split"),
    benchmark:
        MAIN.benchmark("split")
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
        model=MAIN.file("model"),
        report=MAIN.file("service_report"),
    log:
        MAIN.log("service_model"),
    benchmark:
        MAIN.benchmark("service_model")
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=GPUS,
    params:
        threads=config["threads"],  # the thread count moves float rounding: editing it reruns
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
        probes=MAIN.file("probes"),
    log:
        MAIN.log("probes"),
    benchmark:
        MAIN.benchmark("probes")
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


# What rule all builds from this file (patterns over {rundir}; see get_final_output).
DATA_TARGETS = [
    rules.prepare_data.output.manifest,
    rules.service_model.output.report,
    rules.probes.output.probes,
]
