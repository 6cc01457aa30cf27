# Ground truth for small n (config/exact.yaml): exact Shapley values from the full enumeration table,
# and every method's accuracy against them.


rule exact_values:
    input:
        table=MAIN.file("utility", design="exact", trainer="full"),
    output:
        values=MAIN.file("exact"),
    log:
        MAIN.log("exact_values"),
    benchmark:
        MAIN.benchmark("exact_values")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=60,
    script:
        "../scripts/exact_values.py"


rule accuracy_vs_exact:
    input:
        exact=rules.exact_values.output.values,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        kernel=MAIN.file("utility", design="kernel", trainer="full"),
        values=[
            fill(rules.explainer.output.values, method=m) for m in SHAPLEY_EXPLAINERS
        ],
        explainers=[MAIN.file("explainer", method=m) for m in SHAPLEY_EXPLAINERS],
    output:
        csv=report(
            MAIN.table("accuracy_vs_exact.csv"),
            caption="../report/accuracy.rst",
            category="Tables",
        ),
        md=MAIN.table("accuracy_vs_exact.md"),
        png=report(
            MAIN.figure("accuracy_vs_exact.png"),
            caption="../report/accuracy.rst",
            category="Figures",
        ),
        pdf=MAIN.figure("accuracy_vs_exact.pdf"),
    log:
        MAIN.log("accuracy_vs_exact"),
    benchmark:
        MAIN.benchmark("accuracy_vs_exact")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        methods=SHAPLEY_EXPLAINERS,
        n_seen=EVAL["n_seen"],
        order=METHOD_ORDER,
        seed=seed_of,
    script:
        "../scripts/accuracy_vs_exact.py"


# What rule all builds from this file (patterns over {rundir}; see get_final_output), when the run
# enumerates every coalition.
EXACT_TARGETS = [rules.accuracy_vs_exact.output.csv] if COAL["exact"] else []
EXACT_SEED_TABLES = ["accuracy_vs_exact"] if COAL["exact"] else []
