# Explainers from the method registry: each is fit on the utility table of its design (FDS and AFDS:
# kernel; GFDS: gfds; GFDS+: gfds_plus), with the trainer that explainers.trainer gives it.


rule explainer:
    input:
        unpack(get_explainer_inputs),
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
        method=wildcard_pattern(EXPLAINER_NAMES),
    conda:
        "../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    params:
        settings=lambda wc: explainer_settings(wc.method),
        dataset=DATA["dataset"],
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/explainer.py"


FINAL += [f"{R}/values/per_sample/{m}.npz" for m in EXPL["methods"]]
