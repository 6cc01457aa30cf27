# The linear datamodeling score: the held-out lds design (evaluation.lds) is retrained through the same
# design -> shard -> merge rules as every other design; each method's additive prediction is then ranked against it.


rule lds_table:
    input:
        unpack(get_lds_exact),
        table=f"{R}/utility/lds-full.npz",
        values=VALUES,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        csv=report(f"{TABLES}/lds.csv", caption="../report/lds.rst", category="Tables"),
        md=f"{TABLES}/lds.md",
        samples=f"{TABLES}/lds_samples.csv",
    log:
        f"{LOGS}/lds_table.log",
    benchmark:
        f"{BENCH}/lds_table.tsv"
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


FINAL += [f"{TABLES}/lds.csv"]
SEED_TABLES += ["lds"]
