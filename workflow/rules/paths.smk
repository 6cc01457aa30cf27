# Every path of the workflow, written once. A Paths object is one prefix: MAIN (results/{rundir}, the main run of
# a seed), a study's (results/{rundir}/budget/{budget}, results/{rundir}/grouping/{grouping}) or SHARED
# (results/<run>: seed-independent jobs and the aggregates over seeds). Rules take every output, log and benchmark
# path from one; a study's rules are the main rules with the study's Paths.

# One results folder per seed of `seeds`: the first seed's is results/<run>, every further seed's
# results/<run>/seeds/<seed>, with the same layout. Rules name it with the {rundir} wildcard, so the seed-dependent
# DAG is built once per seed; seed_of(wildcards) is its seed.
SEEDS = config["seeds"]
ROOT = f"results/{config['run']}"
RUNDIRS = {
    (ROOT if s == SEEDS[0] else f"{ROOT}/seeds/{s}").removeprefix("results/"): s
    for s in SEEDS
}
MAIN_RUNDIR = next(iter(RUNDIRS))
R = "results/{rundir}"


wildcard_constraints:
    rundir=wildcard_pattern(RUNDIRS),


# Each artifact's path under its prefix ({name}: a wildcard).
FILES = {
    "manifest": "data/manifest.json",
    "split": "split.npz",
    "model": "models/service.pt",
    "service_report": "service_model.json",
    "probes": "probes.npz",
    "groups": "groups.json",
    "design": "designs/{design}.npz",
    "shard": "shards/{design}-{trainer}/{shard}.npz",
    "utility": "utility/{design}-{trainer}.npz",
    "explainer": "explainers/{method}.pt",
    "values": "values/{scope}/{method}.npz",
    "exact": "values/exact.npz",
    "removal": "removal/{scope}/{method}.npz",
}
# The name of a job's log (logs/<name>.log) and benchmark (benchmarks/<name>.tsv) where it is not the job's own.
# A shard's, an explainer's and a removal's mirror their output.
JOBS = {
    "design": "design/{design}",
    "shard": FILES["shard"].removesuffix(".npz"),
    "merge": "merge/{design}-{trainer}",
    "baseline": "baselines/{scope}/{method}",
    "explainer": FILES["explainer"].removesuffix(".pt"),
    "removal": FILES["removal"].removesuffix(".npz"),
    "top10_grid": "top10/{method}",
    "seeds_table": "seeds/{table}",
}


def fill(pattern, **wildcards):
    """``pattern`` with the given wildcards filled in; the others stay wildcards."""
    for name, value in wildcards.items():
        pattern = pattern.replace(f"{{{name}}}", str(value))
    return pattern


def at(wildcards, path):
    """``path`` (a pattern over {rundir}) in the results folder of these wildcards."""
    return fill(path, rundir=wildcards.rundir)


def seed_of(wildcards):
    """The seed of the results folder {rundir}."""
    return RUNDIRS[wildcards.rundir]


class Paths:
    """The paths under one prefix: an artifact at <root>/<study>/<file>, a job's log at <root>/logs/<study>/<job>.log
    and its benchmark at <root>/benchmarks/<study>/<job>.tsv (no <study> for the main run). Each method fills the
    wildcards it is given and leaves the others as wildcards."""

    def __init__(self, root, study=""):
        self.root = root
        self.study = study

    def _path(self, folder, name, wildcards):
        parts = (self.root, folder, self.study, name)
        return fill("/".join(p for p in parts if p), **wildcards)

    def file(self, artifact, **wildcards):
        """The artifact FILES[artifact]."""
        return self._path("", FILES[artifact], wildcards)

    def log(self, job, **wildcards):
        return self._path("logs", f"{JOBS.get(job, job)}.log", wildcards)

    def benchmark(self, job, **wildcards):
        return self._path("benchmarks", f"{JOBS.get(job, job)}.tsv", wildcards)

    def table(self, name, **wildcards):
        """A report table (CSV, Markdown, JSON) of the run."""
        return self._path("tables", name, wildcards)

    def figure(self, name, **wildcards):
        """A report figure (PNG, PDF) of the run."""
        return self._path("figures", name, wildcards)


MAIN = Paths(R)
SHARED = Paths(ROOT)
