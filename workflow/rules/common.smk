# Shared names for every rule file. Values that rules use reach them through params:, so that
# editing a config value reruns exactly the jobs that it affects.

R = f"results/{config['run']}"
LOGS = f"{R}/logs"
BENCH = f"{R}/benchmarks"
GPUS = 1 if config["device"] == "cuda" else 0
DATA = config["data"]
SPLIT = config["split"]

# Every artifact that `snakemake` (rule all) builds; each rule file appends its own.
FINAL = [
    f"{R}/data/manifest.json",
    f"{R}/service_model.json",
    f"{R}/probes.npz",
]
