# Mislabeled-data detection: with noise.fraction > 0 the split flips that fraction of D's labels and every method
# values the noisy D; each method's values become one score per training point, and the lowest are suspected.

NOISE = config["noise"]


rule mislabel_table:
    input:
        values=VALUES,
        explainers=[MAIN.file("explainer", method=m) for m in EXPL["methods"]],
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        csv=report(
            MAIN.table("mislabel.csv"),
            caption="../report/mislabel.rst",
            category="Tables",
        ),
        md=MAIN.table("mislabel.md"),
        figure=report(
            MAIN.figure("mislabel.png"),
            caption="../report/mislabel_figure.rst",
            category="Figures",
        ),
        figure_pdf=MAIN.figure("mislabel.pdf"),
    log:
        MAIN.log("mislabel_table"),
    benchmark:
        MAIN.benchmark("mislabel_table")
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


# What rule all builds from this file (patterns over {rundir}; see get_final_output), when the split
# flips labels.
FLIPS = NOISE["fraction"] > 0
MISLABEL_TARGETS = (
    [rules.mislabel_table.output.csv, rules.mislabel_table.output.figure]
    if FLIPS
    else []
)
MISLABEL_SEED_TABLES = ["mislabel"] if FLIPS else []
