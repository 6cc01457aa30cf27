# fastdatashapley: Fast-DataShapley and its baselines as one workflow.
# Run: snakemake --cores all                      (config/config.yaml, embedded digits data)
#      snakemake --cores all --configfile config/fashion-mnist.yaml
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# Validates the config (schema completed from the method, design and dataset registries; sizes; device).
include: "workflow/rules/common.smk"
# Every output, log and benchmark path.
include: "workflow/rules/paths.smk"
# The rule files' input functions and params (snakemake --lint keeps functions out of files with rules).
include: "workflow/rules/functions.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/coalitions.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/explainers.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/lds.smk"
include: "workflow/rules/mislabel.smk"
include: "workflow/rules/budget.smk"
include: "workflow/rules/exact.smk"
include: "workflow/rules/grouping.smk"
include: "workflow/rules/seeds.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
