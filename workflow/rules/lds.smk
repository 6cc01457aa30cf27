# The linear datamodeling score: the held-out lds design (evaluation.lds) is retrained through the same
# design -> shard -> merge rules as every other design; each method's additive prediction is then ranked against it.
# The lds_retest design retrains the same subsets in another data order: their agreement is the noise ceiling.


rule lds_table:
    input:
        unpack(get_lds_exact),
        table=MAIN.file("utility", design="lds", trainer="full"),
        retest=MAIN.file("utility", design="lds_retest", trainer="full"),
        values=VALUES,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        csv=report(
            MAIN.table("lds.csv"), caption="../report/lds.rst", category="Tables"
        ),
        md=MAIN.table("lds.md"),
        samples=report(
            MAIN.table("lds_samples.csv"),
            caption="../report/lds_samples.rst",
            category="Tables",
        ),
    log:
        MAIN.log("lds_table"),
    benchmark:
        MAIN.benchmark("lds_table")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        valued=VALUED,
        explainers=EXPLAINER_NAMES,
        seed=seed_of,
    script:
        "../scripts/lds_table.py"


# What rule all builds from this file (patterns over {rundir}; see get_final_output).
LDS_TARGETS = [rules.lds_table.output.csv]
LDS_SEED_TABLES = ["lds"]
