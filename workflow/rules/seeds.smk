# Further seeds (config key seeds): each builds the tables named in SEED_TABLES in its own results folder, and
# tables/<name>_seeds.{csv,md} gives their mean and a Student-t interval over the seeds. Included last: it reads
# FINAL and SEED_TABLES as every rule file left them.


rule seeds_table:
    input:
        tables=[f"results/{d}/tables/{{table}}.csv" for d in RUNDIRS],
    output:
        csv=report(
            f"{ROOT}/tables/{{table}}_seeds.csv",
            caption="../report/seeds.rst",
            category="Tables",
        ),
        md=f"{ROOT}/tables/{{table}}_seeds.md",
    log:
        f"{ROOT}/logs/seeds/{{table}}.log",
    benchmark:
        f"{ROOT}/benchmarks/seeds/{{table}}.tsv"
    wildcard_constraints:
        table=wildcard_pattern(SEED_TABLES),
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


TARGETS = [f.replace("{rundir}", MAIN_RUNDIR) for f in FINAL]
if len(SEEDS) > 1:
    TARGETS += [f"results/{d}/tables/{t}.csv" for d in RUNDIRS for t in SEED_TABLES]
    TARGETS += [f"{ROOT}/tables/{t}_seeds.csv" for t in SEED_TABLES]
