"""Workflow config checks beyond the schema, run by the Snakefile when the workflow starts, before any job.

The schema checks types, ranges and names; these check what depends on the dataset and the machine: that
``split.n_train`` divides into the classes, that the split asks for no more images than the dataset has, that a
positive ``noise.fraction`` flips at least one label, that the budget study's budgets give KernelSHAP at least n
coalitions, and that ``device: cuda`` has a CUDA device. Each problem is one :class:`ConfigError` line that names
the config key and its limit; :func:`schema_error_message` turns a schema violation into such a line too.

Dataset sizes come from the dataset registry (:data:`fastdatashapley.data.DATASETS`: images per class in the
train and eval parts), so no data file is read; ``data.classes`` subsets select from it. No Snakemake here.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..data import DATASETS, downsampled_shape

class ConfigError(ValueError):
    """A config value the workflow cannot run with; the message is one line naming the key and its limit."""


def check_config(config: Mapping[str, Any], *, check_device: bool = True) -> None:
    """Raise :class:`ConfigError` for the first problem in a schema-validated workflow ``config``.

    ``check_device``: check that ``device: cuda`` finds a CUDA device here (pass False where jobs run on other
    machines, such as a cluster's GPU nodes).
    """
    data, split = config["data"], config["split"]
    counts = class_counts(data["dataset"], data.get("classes"))
    if counts is not None:
        _check_split(data["dataset"], split, *counts)
    if "downsample" in data:
        try:
            downsampled_shape(DATASETS.get(data["dataset"]).in_shape, data["downsample"])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    _check_noise(config.get("noise") or {}, split["n_train"])
    _check_budget_curve(config.get("budget_curve") or {}, split["n_train"])
    if check_device and config.get("device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device: cuda, but torch finds no CUDA device on this machine "
                              "(torch.cuda.is_available() is False); set device: auto or cpu")


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
    value = repr(found.instance)
    value = value if len(value) <= 80 else value[:77] + "..."
    hint = found.schema.get("description")
    return f"config error: {where} = {value} breaks the schema rule '{found.validator}' ({found.message})" + (
        f"; {key}: {hint}" if hint else "")
