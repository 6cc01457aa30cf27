# Accuracy against budget at (about) equal retrainings (budget_curve): at every budget b, FDS and GFDS+ are
# trained on their designs with b rows, KernelSHAP is solved per test sample from FDS's kernel table, and
# per-sample TMC runs untruncated with about b retrainings; each point is scored by LDS on the main lds table.
# The designs, shards, merges and explainers are the main rules with a {budget} wildcard under budget/{budget}/.

BUDGET = config["budget_curve"]
# Every (method, budget) point of budget_curve.
BUDGET_POINTS = [(m, b) for m in BUDGET["methods"] for b in sorted(BUDGET["budgets"])]
# The study's per-sample KernelSHAP reads the table FDS trains on, with the full trainer.
KERNELSHAP_DESIGN = METHODS.get("fds").design
BUDGET_STUDY = Paths(R, "budget/{budget}")


wildcard_constraints:
    budget=r"\d+",


use rule design as budget_design with:
    output:
        design=BUDGET_STUDY.file("design"),
    log:
        BUDGET_STUDY.log("design"),
    benchmark:
        BUDGET_STUDY.benchmark("design")
    params:
        **design_params(size=lambda wc: int(wc.budget), stream=lambda wc: wc.design),


use rule shard as budget_shard with:
    input:
        design=rules.budget_design.output.design,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        shard=BUDGET_STUDY.file("shard"),
    log:
        BUDGET_STUDY.log("shard"),
    benchmark:
        BUDGET_STUDY.benchmark("shard")
    params:
        **shard_params(size=lambda wc: shard_rows(int(wc.budget)), block=ENGINE_BLOCK),


use rule merge as budget_merge with:
    input:
        shards=get_budget_shards,
    output:
        table=BUDGET_STUDY.file("utility"),
    log:
        BUDGET_STUDY.log("merge"),
    benchmark:
        BUDGET_STUDY.benchmark("merge")


use rule explainer as budget_explainer with:
    input:
        unpack(get_budget_explainer_inputs),
        probes=rules.probes.output.probes,
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        explainer=BUDGET_STUDY.file("explainer"),
        values=BUDGET_STUDY.file("values", scope=PER_SAMPLE),
    log:
        BUDGET_STUDY.log("explainer"),
    benchmark:
        BUDGET_STUDY.benchmark("explainer")


use rule baseline as budget_tmc with:
    input:
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        values=BUDGET_STUDY.file("values"),
    log:
        BUDGET_STUDY.log("baseline"),
    benchmark:
        BUDGET_STUDY.benchmark("baseline")
    wildcard_constraints:
        scope="per_sample",
        method="tmc",
    params:
        settings=lambda wc: budget_tmc_settings(int(wc.budget)),
        seed=seed_of,
        device=config["device"],


rule budget_kernelshap:
    input:
        table=get_budget_kernel_table,
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        values=BUDGET_STUDY.file("values", scope=PER_SAMPLE, method="kernelshap"),
    log:
        BUDGET_STUDY.log("kernelshap"),
    benchmark:
        BUDGET_STUDY.benchmark("kernelshap")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=10,
    params:
        seed=seed_of,
    script:
        "../scripts/budget_kernelshap.py"


rule budget_curve:
    input:
        table=MAIN.file("utility", design="lds", trainer="full"),
        values=[budget_values(m, b) for m, b in BUDGET_POINTS],
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        csv=report(
            MAIN.table("budget_curve.csv"),
            caption="../report/budget_curve.rst",
            category="Tables",
        ),
        md=MAIN.table("budget_curve.md"),
        png=report(
            MAIN.figure("budget_curve.png"),
            caption="../report/budget_curve.rst",
            category="Figures",
        ),
        pdf=MAIN.figure("budget_curve.pdf"),
    log:
        MAIN.log("budget_curve"),
    benchmark:
        MAIN.benchmark("budget_curve")
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        points=BUDGET_POINTS,
        explainers=EXPLAINER_NAMES,
        order=METHOD_ORDER,
        seed=seed_of,
    script:
        "../scripts/budget_curve.py"


# What rule all builds from this file (patterns over {rundir}; see get_final_output), when budget_curve
# names budgets.
BUDGET_TARGETS = (
    [rules.budget_curve.output.csv, rules.budget_curve.output.png]
    if BUDGET["budgets"]
    else []
)
