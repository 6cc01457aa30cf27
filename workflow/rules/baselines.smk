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
        values=f"{R}/values/{{scope}}/{{method}}.npz",
    log:
        f"{LOGS}/baselines/{{scope}}/{{method}}.log",
    benchmark:
        f"{BENCH}/baselines/{{scope}}/{{method}}.tsv"
    wildcard_constraints:
        method=wildcard_pattern(BASELINE_NAMES),
    conda:
        "../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    params:
        settings=lambda wc: BASELINES.get(wc.method, {}),
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/baseline.py"


FINAL += [f"{R}/values/{s}/{m}.npz" for s, m in VALUED if m in BASELINE_NAMES]
