# Value-loss removal experiments: one job per (scope, method) values file.


rule removal:
    input:
        values=f"{R}/values/{{scope}}/{{method}}.npz",
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        loss=f"{R}/removal/{{scope}}/{{method}}.npz",
    log:
        f"{LOGS}/removal/{{scope}}/{{method}}.log",
    benchmark:
        f"{BENCH}/removal/{{scope}}/{{method}}.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    params:
        fractions=FRACTIONS,
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/removal.py"


rule grouping_study:
    input:
        split=rules.split.output.split,
        probes=rules.probes.output.probes,
        model=rules.service_model.output.model,
    output:
        result=f"{R}/grouping/{{kind}}-{{features}}.json",
    log:
        f"{LOGS}/grouping/{{kind}}-{{features}}.log",
    benchmark:
        f"{BENCH}/grouping/{{kind}}-{{features}}.tsv"
    wildcard_constraints:
        kind="label|kmeans|spectral",
        features="label|pixels|outputs|embeddings",
    conda:
        "../../envs/torch.yaml"
    threads: workflow.cores
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=GPUS,
    params:
        n_groups=config["grouping"]["n_groups"],
        n_samples=COAL["gfds_plus"],
        trainer=EXPL["trainer"]["gfds+"],
        approx=config["approx"],
        explainer=explainer_settings("gfds+"),
        eta=EVAL["grouping_eta"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../../scripts/grouping_study.py"


rule grouping_table:
    input:
        results=GROUPING_RESULTS,
    output:
        csv=report(
            f"{TABLES}/grouping.csv",
            caption="../report/grouping.rst",
            category="Tables",
        ),
        md=f"{TABLES}/grouping.md",
    log:
        f"{LOGS}/grouping_table.log",
    benchmark:
        f"{BENCH}/grouping_table.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../../scripts/grouping_table.py"
