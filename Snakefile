# fastdatashapley: Fast-DataShapley and its baselines as one workflow.
# Run: snakemake --cores all                      (config/config.yaml, embedded digits data)
#      snakemake --cores all --configfile config/fashion-mnist.yaml
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, f"{workflow.basedir}/src")
from fastdatashapley.config_checks import (
    ConfigError,
    check_config,
    config_error_message,
)


configfile: "config/config.yaml"


# Schema errors and what the schema cannot check (sizes against the dataset, CUDA), in one line, before any job.
try:
    validate(config, "workflow/schemas/config.schema.yaml")
    check_config(config, check_device=getattr(workflow, "local_exec", True))
except (WorkflowError, ConfigError) as exc:
    raise ConfigError(config_error_message(exc)) from None


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/coalitions.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/explainers.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/exact.smk"


rule all:
    default_target: True
    input:
        FINAL,
