# Tables (CSV + Markdown) and figures (PNG + PDF) from the removal experiments and the values.

LOSSES = [f"{R}/removal/{s}/{m}.npz" for s, m in VALUED]
VALUES = [f"{R}/values/{s}/{m}.npz" for s, m in VALUED]


rule report_tables:
    input:
        losses=LOSSES,
        values=VALUES,
        split=rules.split.output.split,
        benchmarks=get_benchmarks,
    output:
        value_loss=report(
            f"{TABLES}/value_loss.csv",
            caption="../report/value_loss.rst",
            category="Tables",
        ),
        value_loss_md=f"{TABLES}/value_loss.md",
        provenance=f"{TABLES}/value_loss.provenance.json",
        curve=f"{TABLES}/value_loss_curve.csv",
        cost=report(
            f"{TABLES}/cost.csv", caption="../report/cost.rst", category="Tables"
        ),
        cost_md=f"{TABLES}/cost.md",
        figure=report(
            f"{FIGURES}/value_loss.png",
            caption="../report/value_loss_figure.rst",
            category="Figures",
        ),
        figure_pdf=f"{FIGURES}/value_loss.pdf",
    log:
        f"{LOGS}/report_tables.log",
    benchmark:
        f"{BENCH}/report_tables.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        valued=VALUED,
        explainers=EXPLAINER_NAMES,
        order=METHOD_ORDER,
        etas=EVAL["etas"],
        seed=seed_of,
        benchmarks=benchmarks_by_method,
        dataset=DATA["dataset"],
    script:
        "../scripts/report_tables.py"


rule top10_grid:
    input:
        values=f"{R}/values/per_sample/{{method}}.npz",
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        png=report(
            f"{FIGURES}/top10_{{method}}.png",
            caption="../report/top10.rst",
            category="Figures",
        ),
        pdf=f"{FIGURES}/top10_{{method}}.pdf",
    log:
        f"{LOGS}/top10/{{method}}.log",
    benchmark:
        f"{BENCH}/top10/{{method}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        samples=EVAL["grid_samples"],
        dataset=DATA["dataset"],
    script:
        "../scripts/top10_grid.py"


FINAL += [
    f"{TABLES}/value_loss.csv",
    f"{TABLES}/cost.csv",
    f"{FIGURES}/value_loss.png",
] + [f"{FIGURES}/top10_{m}.png" for m in EXPL["methods"]]

SEED_TABLES += ["value_loss"]
