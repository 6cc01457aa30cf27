# Tables (CSV + Markdown) and figures (PNG + PDF) from the removal experiments and the values.

LOSSES = [MAIN.file("removal", scope=s, method=m) for s, m in VALUED]
VALUES = [MAIN.file("values", scope=s, method=m) for s, m in VALUED]


rule report_tables:
    input:
        losses=LOSSES,
        values=VALUES,
        split=rules.split.output.split,
        benchmarks=get_benchmarks,
    output:
        value_loss=report(
            MAIN.table("value_loss.csv"),
            caption="../report/value_loss.rst",
            category="Tables",
        ),
        value_loss_md=MAIN.table("value_loss.md"),
        provenance=report(
            MAIN.table("value_loss.provenance.json"),
            caption="../report/provenance.rst",
            category="Tables",
        ),
        curve=report(
            MAIN.table("value_loss_curve.csv"),
            caption="../report/value_loss_curve.rst",
            category="Tables",
        ),
        cost=report(
            MAIN.table("cost.csv"), caption="../report/cost.rst", category="Tables"
        ),
        cost_md=MAIN.table("cost.md"),
        figure=report(
            MAIN.figure("value_loss.png"),
            caption="../report/value_loss_figure.rst",
            category="Figures",
        ),
        figure_pdf=MAIN.figure("value_loss.pdf"),
    log:
        MAIN.log("report_tables"),
    benchmark:
        MAIN.benchmark("report_tables")
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
        values=MAIN.file("values", scope=PER_SAMPLE),
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        png=report(
            MAIN.figure("top10_{method}.png"),
            caption="../report/top10.rst",
            category="Figures",
        ),
        pdf=MAIN.figure("top10_{method}.pdf"),
    log:
        MAIN.log("top10_grid"),
    benchmark:
        MAIN.benchmark("top10_grid")
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


rule provider_table:
    input:
        values=VALUES,
        split=rules.split.output.split,
    output:
        csv=report(
            MAIN.table("providers.csv"),
            caption="../report/providers.rst",
            category="Tables",
        ),
        md=MAIN.table("providers.md"),
    log:
        MAIN.log("provider_table"),
    benchmark:
        MAIN.benchmark("provider_table")
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        valued=VALUED,
        explainers=EXPLAINER_NAMES,
    script:
        "../scripts/provider_table.py"


# What rule all builds from this file (patterns over {rundir}; see get_final_output).
REPORT_TARGETS = [
    rules.report_tables.output.value_loss,
    rules.report_tables.output.cost,
    rules.report_tables.output.figure,
] + [fill(rules.top10_grid.output.png, method=m) for m in EXPL["methods"]]
# A table's data providers: who gets paid, ranked by each method.
if DATA.get("provider"):
    REPORT_TARGETS.append(rules.provider_table.output.csv)
# The tables each further seed builds and tables/<name>_seeds.csv aggregates (see get_seed_tables).
REPORT_SEED_TABLES = ["value_loss"]
