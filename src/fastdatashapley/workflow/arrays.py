"""One call from a user's arrays to a trained explainer, without a config file.

:func:`fit_explainer_from_arrays` runs the workflow's own steps on the arrays, in its order and with its seeds: the
service model f_D (rule ``service_model``), the explainer's coalition design (``design``), its utility table
through the batched engine (``shard``) and the explainer (``explainer``). Its settings are the config sections
``service``, ``approx`` and ``explainers``, validated and completed by the workflow's schema, so they take the same
keys, defaults and errors as a config file. Given the arrays of a workflow run (its ``split.npz`` and ``probes.npz``)
and the same settings, it returns the explainer that run trains (tests/test_arrays.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import yaml

from ..data import POOL, VALIDATION
from ..engine.retrainer import Retrainer
from ..engine.service import fit_service_model
from ..engine.training import TrainerSpec
from ..engine.utility_table import compute_table
from ..explainers import Explainer
from ..explainers.training import ExplainerSettings
from ..games.designs import DESIGNS, design_options, sample
from ..games.grouping import make_groups
from ..methods import EXPLAINER, METHODS, ExplainerContext
from ..methods.explainers import section_settings
from .config_checks import ConfigError
from .config_schema import complete_schema, validate_config

#: The workflow's config schema template (the repository's, as the workflow reads it).
SCHEMA = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"
#: Share of ``x_pool`` held out as the explainer's validation set when no ``x_val`` is given (its last rows).
VALIDATION_SHARE = 0.2
#: The engine's block of design rows (the workflow's ``ENGINE_BLOCK``): tables do not depend on how rows are sharded.
ENGINE_BLOCK = 256


def as_inputs(x: Any, name: str) -> np.ndarray:
    """``x`` as float32 ``[N, C, H, W]``: images ``[N, C, H, W]`` or ``[N, H, W]`` (one channel), or table rows
    ``[N, d]`` (``[N, 1, 1, d]``). ValueError naming ``name`` for another shape, an empty array or non-finite values."""
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold numbers, got dtype {x.dtype}")
    shapes = {2: lambda a: a[:, None, None, :], 3: lambda a: a[:, None], 4: lambda a: a}
    if x.ndim not in shapes or len(x) == 0 or 0 in x.shape:
        raise ValueError(f"{name} must be a non-empty array [N, d], [N, H, W] or [N, C, H, W], got shape {list(x.shape)}")
    x = shapes[x.ndim](x.astype(np.float32))
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values (first at row {int(np.argwhere(~np.isfinite(x))[0, 0])})")
    return x


def _labels(y: Any, n: int, n_classes: int | None) -> tuple[np.ndarray, int]:
    """``y_train`` as int64 ``[n]`` in [0, m) and m (``n_classes``, or 1 + the largest label)."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y_train must have shape [{n}] (one label per row of x_train), got {list(y.shape)}")
    if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ValueError(f"y_train must hold integer labels 0..m-1, got dtype {y.dtype}")
    y = y.astype(np.int64)
    m = int(y.max()) + 1 if n_classes is None else int(n_classes)
    if y.min() < 0 or y.max() >= m:
        raise ValueError(f"y_train's labels must lie in 0..{m - 1} (n_classes = {m}), got {int(y.min())}..{int(y.max())}")
    if len(np.unique(y)) < 2:
        raise ValueError(f"y_train holds one class only ({int(y[0])}); a classifier needs two or more")
    return y, m


def provider_codes(providers: Sequence[Any], n: int) -> tuple[list[str], np.ndarray]:
    """Provider names (sorted, as strings) and each training point's index into them, ``[n]`` int64."""
    arr = np.asarray(providers)
    if arr.shape != (n,):
        raise ValueError(f"providers must name one provider per training point: shape [{n}], got {list(arr.shape)}")
    names, codes = np.unique(arr.astype(str), return_inverse=True)
    return [str(s) for s in names], codes.astype(np.int64)


def settings_config(n: int, n_pool: int, n_val: int, method: str, budget: int | None, sections: dict[str, Any],
                    seed: int, device: str, grouped: bool = False) -> dict[str, Any]:
    """The config a workflow run of these arrays would have, completed and checked by the workflow's schema
    (:class:`~fastdatashapley.workflow.config_checks.ConfigError` naming the key at fault). ``grouped``: the
    training points come in groups (the providers), so the group methods (GFDS, GFDS+) may run."""
    if method not in METHODS.names() or METHODS.get(method).kind != EXPLAINER:
        names = ", ".join(m.name for m in METHODS if m.kind == EXPLAINER)
        raise ValueError(f"method {method!r} is not an explainer; choose one of {names}")
    design = METHODS.get(method).design
    if DESIGNS.get(design).groups and not grouped:
        raise ValueError(f"method {method!r} needs groups of training points: give providers (its groups), or use the "
                         "workflow (config grouping)")
    unknown = set(sections) - {"service", "approx", "explainers"}
    if unknown:
        raise ValueError(f"unknown settings section {sorted(unknown)[0]!r}; give service, approx or explainers")
    config = {"split": {"n_train": n, "n_pool": n_pool, "n_val": n_val, "n_test": 1}, "seeds": [seed], "device": device,
              **{k: dict(v) for k, v in sections.items()}}
    config.setdefault("explainers", {})["methods"] = [method]
    if budget is not None:
        config["coalitions"] = {design: budget}
    with open(SCHEMA) as f:
        validate_config(config, complete_schema(yaml.safe_load(f)))
    return config


def fit_explainer_from_arrays(x_train: Any, y_train: Any, x_pool: Any, *, x_val: Any = None, budget: int | None = None,
                              method: str = "fds", providers: Sequence[Any] | None = None,
                              n_classes: int | None = None, service: dict[str, Any] | None = None,
                              approx: dict[str, Any] | None = None, explainers: dict[str, Any] | None = None,
                              seed: int = 0, device: str = "auto", progress: bool = True) -> Explainer:
    """Train f_D on ``x_train``, retrain it on ``budget`` coalitions and fit the explainer ``method`` on them.

    ``x_train [n, ...]``, ``x_pool [P, ...]`` and ``x_val [V, ...]`` are images ``[N, C, H, W]`` (pixels in [0, 1],
    as the CLI reads them) or table rows ``[N, d]`` (scaled as you want them, e.g. standardised on ``x_train``);
    ``y_train [n]`` integer labels 0..m-1. The explainer learns on the pool and stops early on the validation set:
    ``x_val``, or the last :data:`VALIDATION_SHARE` of ``x_pool``. ``budget``: coalitions (retrainings) of the
    method's design (the config's ``coalitions.<design>``; default the schema's). ``service``, ``approx`` and
    ``explainers``: those config sections' keys, e.g. ``service={"arch": "digits_mlp", "epochs": 20}``
    (config/README.md). ``providers [n]``: who owns each point; :meth:`Explainer.pay` then pays providers, and the
    group methods (``gfds``, ``gfds+``) take the providers as their groups (GFDS+: providers are the players).
    ``progress`` shows the engine's and the explainer's progress bars.
    """
    x_train, x_pool = as_inputs(x_train, "x_train"), as_inputs(x_pool, "x_pool")
    if x_val is None:
        held = max(1, int(round(VALIDATION_SHARE * len(x_pool))))
        if len(x_pool) <= held:
            raise ValueError(f"x_pool has {len(x_pool)} rows: give x_val, or at least {held + 1} pool rows")
        x_pool, x_val = x_pool[:-held], x_pool[-held:]
    x_val = as_inputs(x_val, "x_val")
    for name, x in (("x_pool", x_pool), ("x_val", x_val)):
        if x.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"{name} rows have shape {list(x.shape[1:])}, x_train's {list(x_train.shape[1:])}")
    y_train, m = _labels(y_train, len(x_train), n_classes)
    names, codes = provider_codes(providers, len(x_train)) if providers is not None else (None, None)
    sections = {k: v for k, v in (("service", service), ("approx", approx), ("explainers", explainers)) if v}
    try:
        config = settings_config(len(x_train), len(x_pool), len(x_val), method, budget, sections, seed, device,
                                 grouped=codes is not None)
    except ConfigError as exc:
        raise ValueError(f"fit_explainer_from_arrays: {exc}") from None
    spec = TrainerSpec(in_shape=tuple(x_train.shape[1:]), n_classes=m, utility="last", **config["service"])
    model = fit_service_model(spec, x_train, y_train, seed=seed, device=device)
    entry = METHODS.get(method)
    design, settings = DESIGNS.get(entry.design), section_settings(method, config["explainers"])
    groups = make_groups("provider", "pixels", x_train, y_train, 2, providers=codes) if design.groups else None
    masks, _ = sample(design.name, len(x_train), config["coalitions"][design.name], seed, stream=design.name,
                      groups=groups, options=design_options(design.name, config))
    trainer_spec = spec if settings["trainer"] == "full" else spec.approx(**config["approx"])
    retrainer = Retrainer(trainer_spec, model.null_state, x_train, y_train, seed=seed + design.reseed, device=device)
    probes = {"x": np.concatenate([x_pool, x_val]),
              "role": np.repeat(np.array([POOL, VALIDATION], np.int8), [len(x_pool), len(x_val)])}
    table = compute_table(retrainer, masks, probes["x"], np.arange(len(probes["x"])), meta={"design": design.name},
                          progress=progress, block=ENGINE_BLOCK)
    fit_settings = ExplainerSettings.from_config(settings, seed=seed, dataset="arrays", device=device, progress=progress)
    ctx = ExplainerContext(method, table, probes, model, x_train, y_train, fit_settings, groups)
    explainer = entry.run(ctx)
    if names is not None:
        explainer.meta["providers"] = {"names": names, "of_point": codes.tolist()}
    return explainer
