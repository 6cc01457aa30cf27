# Explainers from the method registry: each is fit on the utility table of its design (FDS and AFDS:
# kernel; GFDS: gfds; GFDS+: gfds_plus), with the trainer that explainers.trainer gives it.


rule explainer:
    input:
        unpack(get_explainer_inputs),
        probes=rules.probes.output.probes,
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        explainer=MAIN.file("explainer"),
        values=MAIN.file("values", scope=PER_SAMPLE),
    log:
        MAIN.log("explainer"),
    benchmark:
        MAIN.benchmark("explainer")
    wildcard_constraints:
        method=wildcard_pattern(EXPLAINER_NAMES),
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=GPUS,
    params:
        threads=config["threads"],  # the thread count moves float rounding: editing it reruns
        settings=lambda wc: explainer_settings(wc.method),
        dataset=DATA["dataset"],
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/explainer.py"


# What rule all builds from this file (patterns over {rundir}; see get_final_output).
EXPLAINERS_TARGETS = [
    fill(rules.explainer.output.values, method=m) for m in EXPL["methods"]
]
