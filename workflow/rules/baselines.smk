# Baselines from the method registry (fastdatashapley.methods), each in the scopes global ([n]) and
# per_sample ([n, T, m]). A baseline that reads a coalition design's utility table (LOO) gets it as input.


wildcard_constraints:
    scope="global|per_sample",


rule baseline:
    input:
        unpack(get_baseline_table),
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        values=MAIN.file("values"),
    log:
        MAIN.log("baseline"),
    benchmark:
        MAIN.benchmark("baseline")
    wildcard_constraints:
        method=wildcard_pattern(BASELINE_NAMES),
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    params:
        threads=config["threads"],  # the thread count moves float rounding: editing it reruns
        settings=lambda wc: BASELINES.get(wc.method, {}),
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/baseline.py"


# What rule all builds from this file (patterns over {rundir}; see get_final_output).
BASELINES_TARGETS = [
    MAIN.file("values", scope=s, method=m) for s, m in VALUED if m in BASELINE_NAMES
]
