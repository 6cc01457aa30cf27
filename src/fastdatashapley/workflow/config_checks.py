"""Workflow config checks beyond the schema, run by the Snakefile when the workflow starts, before any job.

Before the schema, :func:`check_values` bounds the config's size (a YAML alias bomb expands to billions of values)
and requires every number to be finite. The schema checks types, ranges and names; :func:`check_config` checks
what depends on the dataset and the machine: that ``split.n_train`` divides into the classes, that the split asks
for no more images than the dataset has, that the designs stay within bounds (``coalitions.exact``'s 2^n, the
number of shard jobs, the size of the masks), that a positive ``noise.fraction`` flips at least one label, that
the budget study's budgets give KernelSHAP at least n coalitions, that the file keys (``data.path``, ``data.label``,
...) are those the dataset reads and its ``data.path`` exists, and that ``device: cuda`` has a CUDA device.
Each problem is one :class:`ConfigError` line that names the config key and its limit; :func:`schema_error_message`
turns a schema violation into such a line too.

Dataset sizes come from the dataset registry (:data:`fastdatashapley.data.DATASETS`: images per class in the
train and eval parts), so no data file is read; ``data.classes`` subsets select from it. Your own files' sizes are
not known before they are read: the split job checks them. No Snakemake here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..data import DATASETS, FILE_KEYS, downsampled_shape
from ..games.designs import DESIGNS

#: Values (mappings, lists and scalars, counted as YAML aliases expand them) a config may hold; the shipped ones
#: hold about 150.
MAX_CONFIG_VALUES = 100_000
#: Nesting depth of a config.
MAX_CONFIG_DEPTH = 32
#: ``coalitions.exact`` enumerates 2^n coalitions: n at most this.
MAX_EXACT_N = 20
#: Retraining jobs of one design (its rows / ``coalitions.shard_size``), so that a dry run's plan stays small.
MAX_SHARD_JOBS = 8192
#: Entries of one design's masks (rows x n, bool).
MAX_MASK_ENTRIES = 2**34


class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message is one line naming the key and its limit."""


def check_config(config: Mapping[str, Any], *, check_device: bool = True) -> None:
    """Raise :class:`ConfigError` for the first problem in a schema-validated workflow ``config``.

    ``check_device``: check that ``device: cuda`` finds a CUDA device here (pass False where jobs run on other
    machines, such as a cluster's GPU nodes).
    """
    data, split = config["data"], config["split"]
    counts = class_counts(data["dataset"], data.get("classes"))
    _check_file_keys(data)
    if counts is not None:
        _check_split(data["dataset"], split, *counts)
    in_shape = DATASETS.get(data["dataset"]).in_shape
    if "downsample" in data and in_shape is not None:  # a file's shape is checked when it is read
        try:
            downsampled_shape(in_shape, data["downsample"])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if config.get("grouping", {}).get("kind") == "provider" and not data.get("provider"):
        raise ConfigError("grouping.kind: provider needs data.provider (a table column naming each row's provider)")
    _check_designs(config)
    _check_noise(config.get("noise") or {}, split["n_train"])
    _check_budget_curve(config.get("budget_curve") or {}, split["n_train"])
    if check_device and config.get("device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device: cuda, but torch finds no CUDA device on this machine "
                              "(torch.cuda.is_available() is False); set device: auto or cpu")


def check_values(config: Any) -> None:
    """Raise :class:`ConfigError` if ``config`` holds more than :data:`MAX_CONFIG_VALUES` values (as its YAML
    aliases expand them) or nests deeper than :data:`MAX_CONFIG_DEPTH`, or if a number in it is NaN or infinite.

    The walk stops at the first problem, so an alias bomb costs no more than the bound.
    """
    for count, (key, value, depth) in enumerate(_walk(config), 1):
        where = f"config key {key}" if key else "the config"
        if count > MAX_CONFIG_VALUES:
            raise ConfigError(f"the config holds more than {MAX_CONFIG_VALUES} values (limit {MAX_CONFIG_VALUES}, "
                              f"counting each use of a YAML alias); is it an alias bomb?")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where} nests deeper than {MAX_CONFIG_DEPTH} levels (limit {MAX_CONFIG_DEPTH})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{where} = {value}: every number in the config must be finite")


def _walk(config: Any) -> Iterator[tuple[str, Any, int]]:
    """(dotted key, value, depth) of every value of ``config``, depth first, without recursion."""
    stack = [("", config, 0)]
    while stack:
        key, value, depth = stack.pop()
        yield key, value, depth
        if depth > MAX_CONFIG_DEPTH:
            continue
        if isinstance(value, Mapping):
            items = value.items()
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        else:
            continue
        stack.extend((f"{key}.{k}" if key else str(k), v, depth + 1) for k, v in items)


def _check_file_keys(data: Mapping[str, Any]) -> None:
    """The file keys (``data.path``, ``.label``, ...) that ``data.dataset`` reads and needs, and nothing else: its
    registry entry's ``keys`` and ``required``; ``data.path`` must exist (relative to the working directory)."""
    name = data["dataset"]
    source = DATASETS.get(name)
    extra = [k for k in FILE_KEYS if k in data and k not in source.keys]
    if extra:
        takes = f"it takes {', '.join(f'data.{k}' for k in source.keys)}" if source.keys else "it reads no files"
        raise ConfigError(f"data.{extra[0]} does not apply to data.dataset = {name} ({takes})")
    missing = [k for k in source.required if k not in data]
    if missing:
        raise ConfigError(f"data.dataset = {name} needs data.{missing[0]} ({source.description})")
    if "path" in data and not Path(data["path"]).exists():
        raise ConfigError(f"data.path = {data['path']}: no such file or folder (from the working directory "
                          f"{Path.cwd()})")


def _check_designs(config: Mapping[str, Any]) -> None:
    """Every design's rows (coalitions) within what can be planned and stored: ``coalitions.exact`` needs
    n <= :data:`MAX_EXACT_N`, an integer ``coalitions.shard_size`` makes at most :data:`MAX_SHARD_JOBS` jobs per
    design, and rows x n stays within :data:`MAX_MASK_ENTRIES`."""
    n, coal = config["split"]["n_train"], config.get("coalitions") or {}
    if coal.get("exact") and n > MAX_EXACT_N:
        raise ConfigError(f"coalitions.exact enumerates 2^n coalitions, but split.n_train = {n} (limit "
                          f"{MAX_EXACT_N}: 2^{MAX_EXACT_N} = {2**MAX_EXACT_N} coalitions)")
    shard_size = coal.get("shard_size")
    for key, rows in _design_rows(config):
        if isinstance(shard_size, int) and -(-rows // shard_size) > MAX_SHARD_JOBS:
            raise ConfigError(f"{key} = {rows} coalitions in shards of coalitions.shard_size = {shard_size} make "
                              f"{-(-rows // shard_size)} retraining jobs (limit {MAX_SHARD_JOBS}); raise "
                              f"coalitions.shard_size to at least {-(-rows // MAX_SHARD_JOBS)}")
        if rows * n > MAX_MASK_ENTRIES:
            raise ConfigError(f"{key} = {rows} coalitions of split.n_train = {n} points are {rows * n:.3g} mask "
                              f"entries (limit {MAX_MASK_ENTRIES:.3g})")


def _design_rows(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(config key, rows) of every design a run may build: each design's budget, the LDS subsets, the budget
    study's budgets and, with ``coalitions.exact``, 2^n."""
    n, coal = config["split"]["n_train"], config.get("coalitions") or {}
    rows = [(f"coalitions.{d.name}", coal[d.name]) for d in DESIGNS if d.budget is not None and d.name in coal]
    lds = (config.get("evaluation") or {}).get("lds") or {}
    rows += [("evaluation.lds.subsets", lds["subsets"])] if "subsets" in lds else []
    rows += [("budget_curve.budgets", b) for b in (config.get("budget_curve") or {}).get("budgets") or ()]
    return rows + ([("coalitions.exact (2^split.n_train)", 2**n)] if coal.get("exact") else [])


def _check_budget_curve(study: Mapping[str, Any], n_train: int) -> None:
    """Per-sample KernelSHAP solves for n values from the table's rows, so every budget needs at least n rows."""
    small = sorted(b for b in study.get("budgets") or () if b < n_train)
    if small and "kernelshap" in study.get("methods", ()):
        raise ConfigError(f"budget_curve.budgets = {small} are below split.n_train = {n_train}: per-sample "
                          f"KernelSHAP needs at least n coalitions (limit {n_train}; or drop kernelshap from "
                          f"budget_curve.methods)")


def class_counts(dataset: str, classes: list[int] | None) -> tuple[list[int], list[int], bool] | None:
    """Images per class in the train and eval parts of ``dataset`` after the ``data.classes`` subset, and whether
    the two parts are the same images; None when the registry does not know the counts."""
    if dataset not in DATASETS:
        raise ConfigError(f"data.dataset = {dataset!r} is unknown; choose one of {', '.join(DATASETS.names())}")
    source = DATASETS.get(dataset)
    if source.train_counts is None or source.eval_counts is None:
        return None
    train, evals, shared = source.train_counts, source.eval_counts, source.shared
    if classes is None:
        return list(train), list(evals), shared
    k = len(train)
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(0 <= c < k for c in classes):
        raise ConfigError(f"data.classes = {list(classes)} must list at least 2 distinct labels of {dataset} "
                          f"(0..{k - 1})")
    return [train[c] for c in classes], [evals[c] for c in classes], shared


def _check_split(dataset: str, split: Mapping[str, Any], train: list[int], evals: list[int], shared: bool) -> None:
    """The split's sizes against the images per class (:func:`fastdatashapley.data.make_split` draws them so)."""
    m, n_train, n_test = len(train), split["n_train"], split["n_test"]
    if n_train % m:
        raise ConfigError(f"split.n_train = {n_train} is not divisible by the {m} classes of {dataset} "
                          f"(use a multiple of {m})")
    per_class = n_train // m
    if per_class > min(train):
        raise ConfigError(f"split.n_train = {n_train} asks for {per_class} images per class, but {dataset} has "
                          f"{min(train)} in its smallest class (limit {m * min(train)})")
    left = [e - per_class for e in evals] if shared else list(evals)
    source = f"{dataset} after split.n_train" if shared else f"the eval part of {dataset}"
    if n_test % m == 0 and n_test // m > min(left):
        raise ConfigError(f"split.n_test = {n_test} asks for {n_test // m} test images per class, but {source} has "
                          f"{min(left)} in its smallest class (limit {m * min(left)}; up to {sum(left)} when not "
                          f"divisible by {m})")
    if n_test > sum(left):
        raise ConfigError(f"split.n_test = {n_test} exceeds the {sum(left)} images of {source} (limit {sum(left)})")
    needed, rest = split["n_pool"] + split["n_val"], sum(left) - n_test
    if needed > rest:
        raise ConfigError(f"split.n_pool + split.n_val = {needed} exceeds the {rest} images of {dataset} left after "
                          f"split.n_train and split.n_test (limit {rest})")


def _check_noise(noise: Mapping[str, Any], n_train: int) -> None:
    """A positive ``noise.fraction`` must flip at least one label (``flip_labels`` flips round(fraction * n))."""
    fraction = noise.get("fraction", 0)
    if fraction > 0 and round(fraction * n_train) == 0:
        raise ConfigError(f"noise.fraction = {fraction} flips no label of the split.n_train = {n_train} points "
                          f"(round(fraction * n_train) = 0); use more than {0.5 / n_train:g}, or 0 to turn noise off")


def config_error_message(error: BaseException) -> str:
    """The one line to show for an error from :func:`check_config` or from the schema validation."""
    if isinstance(error, ConfigError):
        return f"config error: {error}"
    return schema_error_message(error) or str(error)


def schema_error_message(error: BaseException) -> str | None:
    """One line for a schema violation: the key, its value and the rule broken (None if ``error`` holds none).

    ``error`` is a ``jsonschema.ValidationError``, or an exception raised while handling one (Snakemake's
    ``WorkflowError`` from ``snakemake.utils.validate``), or one that carries it in its ``args``.
    """
    chain, seen = [], error
    while seen is not None and len(chain) < 10:
        chain += [seen, *getattr(seen, "args", ())]
        seen = seen.__cause__ or seen.__context__
    found = next((e for e in chain if hasattr(e, "validator") and hasattr(e, "absolute_path")), None)
    if found is None:
        return None
    key = ".".join(str(p) for p in found.absolute_path)
    where = f"config key {key}" if key else "the config"
    if found.validator == "additionalProperties":
        known = sorted(found.schema.get("properties", {}))
        unknown = sorted(set(found.instance) - set(known))
        keys = ", ".join(f"{key}.{u}" if key else str(u) for u in unknown)
        return f"config error: unknown key {keys}; {where} takes {', '.join(known)}"
    hint = found.schema.get("description")
    if found.validator == "type" and isinstance(found.instance, str) and _is_number(found.instance):
        hint = "snakemake --config gives nested values as strings; set them in a config file"
    return (f"config error: {where} = {_short(repr(found.instance))} breaks the schema rule '{found.validator}' "
            f"({_short(found.message, 100)})" + (f"; {key}: {hint}" if hint else ""))


def _is_number(text: str) -> bool:
    """Whether ``text`` reads as a number (as ``--config`` passes nested ones)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
