# Explainers: FDS (kernel design, full trainer), AFDS (kernel design, approximate trainer),
# GFDS (group design) and GFDS+ (group-coalition design), each fit on its utility table.


rule explainer:
    input:
        unpack(explainer_inputs),
        probes=rules.probes.output.probes,
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        explainer=f"{R}/explainers/{{method}}.pt",
        values=f"{R}/values/per_sample/{{method}}.npz",
    log:
        f"{LOGS}/explainers/{{method}}.log",
    benchmark:
        f"{BENCH}/explainers/{{method}}.tsv"
    wildcard_constraints:
        method="fds|afds|gfds|gfds\+",
    conda:
        "../../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    params:
        settings=lambda wc: explainer_settings(wc.method),
        dataset=DATA["dataset"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/explainer.py"
