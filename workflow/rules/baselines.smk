# Baselines: LOO (from the loo design's table), TMC, group testing, CS-Shapley and FreeShap on the engine,
# and random values; each in the scopes global ([n]) and per_sample ([n, T, m]).


wildcard_constraints:
    scope="global|per_sample",


rule baseline:
    input:
        unpack(baseline_inputs),
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        values=f"{R}/values/{{scope}}/{{method}}.npz",
    log:
        f"{LOGS}/baselines/{{scope}}/{{method}}.log",
    benchmark:
        f"{BENCH}/baselines/{{scope}}/{{method}}.tsv"
    wildcard_constraints:
        method="loo|tmc|group_testing|cs_shapley|freeshap|random",
    conda:
        "../../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    params:
        settings=lambda wc: config["baselines"].get(wc.method, {}),
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/baseline.py"
