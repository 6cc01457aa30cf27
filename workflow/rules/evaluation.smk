# Value-loss removal experiments: one job per (scope, method) values file.

_curve = (
    [
        round(EVAL["curve_step"] * i, 4)
        for i in range(int(EVAL["curve_max"] / EVAL["curve_step"] + 1e-9) + 1)
    ]
    if EVAL["curve_step"] > 0
    else [0.0]
)
# Fractions removed for every method: the table's etas and the curve's steps.
FRACTIONS = sorted(set(_curve) | {round(e, 4) for e in EVAL["etas"]} | {0.0})


rule removal:
    input:
        values=MAIN.file("values"),
        split=rules.split.output.split,
        model=rules.service_model.output.model,
    output:
        loss=MAIN.file("removal"),
    log:
        MAIN.log("removal"),
    benchmark:
        MAIN.benchmark("removal")
    conda:
        "../envs/torch.yaml"
    threads: THREADS
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=GPUS,
    params:
        threads=config["threads"],  # the thread count moves float rounding: editing it reruns
        fractions=FRACTIONS,
        seed=seed_of,
        device=config["device"],
    script:
        "../scripts/removal.py"
