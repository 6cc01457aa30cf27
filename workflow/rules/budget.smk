# Accuracy against budget at (about) equal retrainings (budget_curve): at every budget b, FDS and GFDS+ are
# trained on their designs with b rows, KernelSHAP is solved per test sample from FDS's kernel table, and
# per-sample TMC runs untruncated with about b retrainings; each point is scored by LDS on the main lds table.
# The designs, shards, merges and explainers are the main rules with a {budget} wildcard under budget/{budget}/.

B = f"{R}/budget/{{budget}}"


wildcard_constraints:
    budget=r"\d+",


use rule design as budget_design with:
    output:
        design=f"{B}/designs/{{design}}.npz",
    log:
        f"{LOGS}/budget/{{budget}}/design/{{design}}.log",
    benchmark:
        f"{BENCH}/budget/{{budget}}/design/{{design}}.tsv"
    params:
        n=N_TRAIN,
        size=lambda wc: int(wc.budget),
        options=lambda wc: design_options(wc.design),
        seed=seed_of,
        stream=lambda wc: wc.design,


use rule shard as budget_shard with:
    input:
        design=f"{B}/designs/{{design}}.npz",
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        shard=f"{B}/shards/{{design}}-{{trainer}}/{{shard}}.npz",
    log:
        f"{LOGS}/budget/{{budget}}/shards/{{design}}-{{trainer}}/{{shard}}.log",
    benchmark:
        f"{BENCH}/budget/{{budget}}/shards/{{design}}-{{trainer}}/{{shard}}.tsv"
    params:
        shard_size=lambda wc: shard_rows(int(wc.budget)),
        block=ENGINE_BLOCK,
        approx=lambda wc: config["approx"] if wc.trainer == "approx" else None,
        seed=seed_of,
        device=config["device"],


use rule merge as budget_merge with:
    input:
        shards=get_budget_shards,
    output:
        table=f"{B}/utility/{{design}}-{{trainer}}.npz",
    log:
        f"{LOGS}/budget/{{budget}}/merge/{{design}}-{{trainer}}.log",
    benchmark:
        f"{BENCH}/budget/{{budget}}/merge/{{design}}-{{trainer}}.tsv"


use rule explainer as budget_explainer with:
    input:
        unpack(get_budget_explainer_inputs),
        probes=rules.probes.output.probes,
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        explainer=f"{B}/explainers/{{method}}.pt",
        values=f"{B}/values/per_sample/{{method}}.npz",
    log:
        f"{LOGS}/budget/{{budget}}/explainers/{{method}}.log",
    benchmark:
        f"{BENCH}/budget/{{budget}}/explainers/{{method}}.tsv"


use rule baseline as budget_tmc with:
    input:
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        values=f"{B}/values/{{scope}}/{{method}}.npz",
    log:
        f"{LOGS}/budget/{{budget}}/baselines/{{scope}}/{{method}}.log",
    benchmark:
        f"{BENCH}/budget/{{budget}}/baselines/{{scope}}/{{method}}.tsv"
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
        values=f"{B}/values/per_sample/kernelshap.npz",
    log:
        f"{LOGS}/budget/{{budget}}/kernelshap.log",
    benchmark:
        f"{BENCH}/budget/{{budget}}/kernelshap.tsv"
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
        table=f"{R}/utility/lds-full.npz",
        values=[budget_values(m, b) for m, b in BUDGET_POINTS],
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
    output:
        csv=report(
            f"{TABLES}/budget_curve.csv",
            caption="../report/budget_curve.rst",
            category="Tables",
        ),
        md=f"{TABLES}/budget_curve.md",
        png=report(
            f"{FIGURES}/budget_curve.png",
            caption="../report/budget_curve.rst",
            category="Figures",
        ),
        pdf=f"{FIGURES}/budget_curve.pdf",
    log:
        f"{LOGS}/budget_curve.log",
    benchmark:
        f"{BENCH}/budget_curve.tsv"
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


if BUDGET["budgets"]:

    FINAL += [f"{TABLES}/budget_curve.csv", f"{FIGURES}/budget_curve.png"]
