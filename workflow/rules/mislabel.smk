# Mislabeled-data detection: with noise.fraction > 0 the split flips that fraction of D's labels and every method
# values the noisy D; each method's values become one score per training point, and the lowest are suspected.

NOISE = config["noise"]


rule mislabel_table:
    input:
        values=VALUES,
        explainers=[f"{R}/explainers/{m}.pt" for m in EXPL["methods"]],
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        csv=report(
            f"{TABLES}/mislabel.csv",
            caption="../report/mislabel.rst",
            category="Tables",
        ),
        md=f"{TABLES}/mislabel.md",
        figure=report(
            f"{FIGURES}/mislabel.png",
            caption="../report/mislabel_figure.rst",
            category="Figures",
        ),
        figure_pdf=f"{FIGURES}/mislabel.pdf",
    log:
        f"{LOGS}/mislabel_table.log",
    benchmark:
        f"{BENCH}/mislabel_table.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        valued=VALUED,
        explainers=EXPLAINER_NAMES,
        explainer_files=EXPL["methods"],
        order=METHOD_ORDER,
        dataset=DATA["dataset"],
        noise=NOISE,
        seed=seed_of,
    script:
        "../scripts/mislabel_table.py"


if NOISE["fraction"] > 0:

    FINAL += [f"{TABLES}/mislabel.csv", f"{FIGURES}/mislabel.png"]
    SEED_TABLES += ["mislabel"]
