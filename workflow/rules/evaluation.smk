# Value-loss removal experiments: one job per (scope, method) values file.


rule removal:
    input:
        values=f"{R}/values/{{scope}}/{{method}}.npz",
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        loss=f"{R}/removal/{{scope}}/{{method}}.npz",
    log:
        f"{LOGS}/removal/{{scope}}/{{method}}.log",
    benchmark:
        f"{BENCH}/removal/{{scope}}/{{method}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    params:
        fractions=FRACTIONS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/removal.py"
