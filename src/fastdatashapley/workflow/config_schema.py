"""The workflow's config schema, completed from the registries, and validation with short errors.

The YAML template (``workflow/schemas/config.schema.yaml``) holds everything static. :func:`complete_schema`
fills in what the registries decide: the ``data.dataset`` and ``service.arch`` enums, one ``coalitions.<design>`` budget per design
that has one, the ``baselines.methods`` and ``explainers.methods`` enums, one ``baselines.<method>`` section per
baseline with settings, and ``explainers.trainer.<method>`` and ``explainers.lr_by_method.<method>`` per
explainer, and the maximum of every coalition count (:data:`~fastdatashapley.games.limits.MAX_COALITIONS`).
:func:`validate_config` fills in defaults and raises :class:`~fastdatashapley.workflow.config_checks.ConfigError`
naming the key, the value and the rule it broke; its integers are strict (``20.0`` is not one).
:func:`check_workflow_config` is what the workflow runs when it starts.
"""

from __future__ import annotations

import copy
import os
from typing import Any, Iterator

import yaml

from ..base.registry import load_plugins
from ..data import DATASETS
from ..engine.models import ARCHS
from ..games.designs import DESIGNS
from ..games.limits import MAX_COALITIONS
from ..methods import BASELINE, EXPLAINER, of_kind
from .config_checks import ConfigError, check_config, check_values, schema_error_message


def check_workflow_config(config: dict[str, Any], template: str | os.PathLike, *, check_device: bool = True) -> None:
    """Everything the workflow checks when it starts, in order, on ``config`` in place; :class:`ConfigError` (one
    line) on the first problem: the config's size and finite numbers (:func:`check_values`), then ``plugins``
    against its schema, then their import, then the schema ``template`` completed from the registries (filling
    defaults), then :func:`check_config`."""
    check_values(config)
    with open(template) as f:
        template_schema = yaml.safe_load(f)
    plugins = {"type": "object", "properties": {"plugins": template_schema["properties"]["plugins"]}}
    validate_config({"plugins": config.get("plugins", [])}, plugins)
    try:
        load_plugins(config.get("plugins") or [])
    except (ImportError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from None
    validate_config(config, complete_schema(template_schema))
    check_config(config, check_device=check_device)


def complete_schema(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of the schema ``template`` with the registry-driven enums and sections filled in."""
    schema = copy.deepcopy(template)
    props = schema["properties"]
    props["data"]["properties"]["dataset"]["enum"] = list(DATASETS.names())
    props["service"]["properties"]["arch"]["enum"] = list(ARCHS.names())
    coal = props["coalitions"]["properties"]
    for design in DESIGNS:
        if design.budget is not None:
            coal.setdefault(design.name, {"type": "integer", "minimum": 2, "maximum": MAX_COALITIONS,
                                          "default": design.budget,
                                          "description": f"coalitions of design {design.name}: {design.description}"})
    props["evaluation"]["properties"]["lds"]["properties"]["subsets"]["maximum"] = MAX_COALITIONS
    props["budget_curve"]["properties"]["budgets"]["items"]["maximum"] = MAX_COALITIONS
    base = props["baselines"]["properties"]
    base["methods"]["items"]["enum"] = [m.name for m in of_kind(BASELINE)]
    for method in of_kind(BASELINE):
        if method.settings:
            base[method.name] = {"type": "object", "default": {}, "additionalProperties": False,
                                 "properties": copy.deepcopy(method.settings)}
    expl = props["explainers"]["properties"]
    explainers = of_kind(EXPLAINER)
    expl["methods"]["items"]["enum"] = [m.name for m in explainers]
    expl["trainer"]["properties"] = {m.name: {"type": "string", "enum": ["full", "approx"], "default": m.trainer}
                                     for m in explainers}
    expl["trainer"]["default"] = {m.name: m.trainer for m in explainers}
    expl["lr_by_method"]["properties"] = {m.name: {"type": "number", "exclusiveMinimum": 0} for m in explainers}
    return schema


def _with_defaults(validator_class):
    """A validator class that also fills in ``default`` values of missing properties (nested objects too), and
    whose ``integer`` is an int (not a float with no fraction, as JSON Schema allows: jobs need ints)."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema) -> Iterator[Any]:
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    strict = validator_class.TYPE_CHECKER.redefine("integer",
                                                   lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    return validators.extend(validator_class, {"properties": properties}, type_checker=strict)


def validate_config(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate ``config`` in place against ``schema``, filling defaults; :class:`ConfigError` on the first error."""
    from jsonschema import Draft202012Validator

    if "seed" in config and "seed" not in schema.get("properties", {}):
        raise ConfigError(f"config key seed is now seeds, a list (one run per seed): write seeds: [{config['seed']}]")
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError(schema_error_message(errors[0]).removeprefix("config error: "))
