# Ground truth for small n (config/exact.yaml): exact Shapley values from the full enumeration table,
# and every method's accuracy against them.


rule exact_values:
    input:
        table=f"{R}/utility/exact-full.npz",
    output:
        values=f"{R}/values/exact.npz",
    log:
        f"{LOGS}/exact_values.log",
    benchmark:
        f"{BENCH}/exact_values.tsv"
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
        kernel=f"{R}/utility/kernel-full.npz",
        values=[f"{R}/values/per_sample/{m}.npz" for m in EXPL["methods"]],
        explainers=[f"{R}/explainers/{m}.pt" for m in EXPL["methods"]],
    output:
        csv=report(
            f"{TABLES}/accuracy_vs_exact.csv",
            caption="../report/accuracy.rst",
            category="Tables",
        ),
        md=f"{TABLES}/accuracy_vs_exact.md",
        png=report(
            f"{FIGURES}/accuracy_vs_exact.png",
            caption="../report/accuracy.rst",
            category="Figures",
        ),
        pdf=f"{FIGURES}/accuracy_vs_exact.pdf",
    log:
        f"{LOGS}/accuracy_vs_exact.log",
    benchmark:
        f"{BENCH}/accuracy_vs_exact.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        methods=EXPL["methods"],
        n_seen=EVAL["n_seen"],
        order=METHOD_ORDER,
        seed=seed_of,
    script:
        "../scripts/accuracy_vs_exact.py"


if COAL["exact"]:

    FINAL += [f"{TABLES}/accuracy_vs_exact.csv"]
    SEED_TABLES += ["accuracy_vs_exact"]
