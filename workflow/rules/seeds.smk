# Further seeds (config key seeds): each builds the tables of get_seed_tables() (common.smk) in its own results
# folder, and tables/<name>_seeds.{csv,md} gives their mean and a Student-t interval over the seeds.


rule seeds_table:
    input:
        tables=[MAIN.table("{table}.csv", rundir=d) for d in RUNDIRS],
    output:
        csv=report(
            SHARED.table("{table}_seeds.csv"),
            caption="../report/seeds.rst",
            category="Tables",
        ),
        md=SHARED.table("{table}_seeds.md"),
    log:
        SHARED.log("seeds_table"),
    benchmark:
        SHARED.benchmark("seeds_table")
    wildcard_constraints:
        table=r"[^/]+",
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        seeds=SEEDS,
    script:
        "../scripts/seeds_table.py"


# What rule all builds from this file with two or more seeds: every seed's tables and their aggregates (patterns
# over {table}, one for each of get_seed_tables()).
SEEDS_TARGETS = (
    [MAIN.table("{table}.csv", rundir=d) for d in RUNDIRS]
    + [rules.seeds_table.output.csv]
    if len(SEEDS) > 1
    else []
)
