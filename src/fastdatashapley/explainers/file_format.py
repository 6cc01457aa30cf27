"""The explainer file: one self-contained torch zip (format 2), and its validation on load.

It holds the net's weights and config, the service and null models, x_train / y_train, the groups, the method
name, GFDS+ variant, dataset, training history and metadata. Untrusted files are safe to load: ``torch.load`` runs
with ``weights_only=True``, and every stored shape is checked against the stored config before a net is built, so
nothing larger than the file is allocated.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from ..base.checks import check_regular_file
from ..base.io import json_default
from ..base.registry import NAME_PATTERN
from ..engine.service import ServiceModel
from ..engine.states import check_service_states, check_state_dict, expected_shapes, save_torch
from ..engine.training import TrainerSpec
from .model import SHAPLEY, VALUES, VARIANTS, Explainer
from .nets import build_net, net_config

FORMAT = 3  # 3 added "value"; format 2 files (Shapley explainers) still load
_NONE = type(None)
#: The type of every entry of the file, and of the entries of ``net_config`` and ``service``, checked first.
_ENTRIES = {"net_config": dict, "net_state": dict, "method": str, "variant": (str, _NONE), "service": dict,
            "x_train": torch.Tensor, "y_train": torch.Tensor, "groups": (list, _NONE), "dataset": str,
            "history": list, "meta": dict}
_NET_CONFIG = {"name": str, "in_shape": (list, tuple), "n_out": int, "m": int, "options": dict}
_SERVICE = {"spec": dict, "null_state": dict, "state": dict, "seed": int}


def save_explainer(explainer: Explainer, path: str | os.PathLike) -> None:
    """Write ``explainer`` to ``path`` atomically (temp file, then rename)."""
    e = explainer
    blob = {
        "format": FORMAT,
        "net_config": e.net_config,
        "net_state": {k: v.detach().cpu() for k, v in e.net.state_dict().items()},
        "method": e.method,
        "variant": e.variant,
        "service": {"spec": e.service.spec.to_dict(), "null_state": e.service.null_state,
                    "state": e.service.state, "seed": int(e.service.seed)},
        "x_train": torch.from_numpy(np.ascontiguousarray(e.x_train)),
        "y_train": torch.from_numpy(np.ascontiguousarray(e.y_train)),
        "groups": [torch.from_numpy(np.asarray(g, np.int64)) for g in e.groups] if e.groups is not None else None,
        "dataset": e.dataset,
        "history": _plain(e.history, "history"),
        "meta": _plain(e.meta, "meta"),
        "value": e.value,
    }
    save_torch(path, blob)


def load_explainer(path: str | os.PathLike) -> Explainer:
    """Read and validate a file written by :func:`save_explainer`; every error is a ValueError naming ``path``."""
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"explainer path must be a file path (str or os.PathLike), got {path!r}")
    if os.path.isdir(path):
        raise ValueError(f"explainer path {path} is a directory, not an explainer file")
    check_regular_file(path, "explainer file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        # torch's own message advises weights_only=False, which would run code from the file: never say it
        raise ValueError(f"{path} is not an explainer file") from None
    try:
        explainer = _from_blob(blob)
    except Exception as exc:
        raise ValueError(f"explainer file {path} is invalid: {exc}") from exc
    explainer.source = str(path)
    return explainer


def _from_blob(blob: Any) -> Explainer:
    if not isinstance(blob, dict) or "format" not in blob:
        raise ValueError("not a saved explainer")
    if type(blob["format"]) is not int:
        raise ValueError(f"its format is a {type(blob['format']).__name__}, not an int")
    if blob["format"] not in (2, FORMAT):
        raise ValueError(f"format {blob['format']}, this version reads formats 2 and {FORMAT}; retrain the explainer")
    value = blob.get("value", SHAPLEY) if blob["format"] == FORMAT else SHAPLEY
    if not isinstance(value, str) or value not in VALUES:
        raise ValueError(f"unknown value {value!r}; an explainer gives {' or '.join(VALUES)} values")
    missing = sorted(set(_ENTRIES) - set(blob))
    if missing:
        raise ValueError(f"missing entries {missing}")
    _check_types(blob, _ENTRIES, "")
    _check_types(blob["net_config"], _NET_CONFIG, "net_config.")
    _check_types(blob["service"], _SERVICE, "service.")
    s = blob["service"]
    check_service_states(s["spec"], {"service state": s["state"], "service null_state": s["null_state"]})
    service = ServiceModel(TrainerSpec.from_dict(s["spec"]), s["null_state"], s["state"], int(s["seed"]))
    x_train, y_train = blob["x_train"].numpy(), blob["y_train"].numpy()
    cfg = net_config(**{k: blob["net_config"][k] for k in ("name", "in_shape", "n_out", "m")},
                     **blob["net_config"]["options"])
    spec = service.spec
    if tuple(cfg["in_shape"]) != tuple(spec.in_shape) or cfg["m"] != spec.n_classes:
        raise ValueError(f"net takes {cfg['in_shape']} with m = {cfg['m']}, the service model "
                         f"{list(spec.in_shape)} with m = {spec.n_classes}")
    if x_train.shape[1:] != tuple(spec.in_shape) or len(x_train) != len(y_train) or y_train.ndim != 1:
        raise ValueError(f"x_train {list(x_train.shape)} and y_train {list(y_train.shape)} do not fit images "
                         f"{list(spec.in_shape)}")
    if len(y_train) and (y_train.min() < 0 or y_train.max() >= spec.n_classes):
        raise ValueError(f"y_train has labels outside 0..{spec.n_classes - 1}")
    method = blob["method"]
    if not isinstance(method, str) or not NAME_PATTERN.match(method) or blob["variant"] not in (None, *VARIANTS):
        raise ValueError(f"unknown method {method!r} or variant {blob['variant']!r}")
    groups = [g.numpy() for g in blob["groups"]] if blob["groups"] is not None else None
    n_out = len(groups) if blob["variant"] == "split" and groups is not None else len(y_train)
    if cfg["n_out"] != n_out:
        raise ValueError(f"net has {cfg['n_out']} outputs, expected {n_out}")
    check_state_dict(blob["net_state"], expected_shapes(lambda: build_net(cfg)), "net_state")
    net = build_net(cfg)
    net.load_state_dict(blob["net_state"])
    return Explainer(net, cfg, method, service, x_train, y_train, groups, blob["variant"], blob["dataset"],
                     list(blob["history"]), dict(blob["meta"]), value)


def _check_types(entries: dict, types: dict[str, type | tuple[type, ...]], prefix: str) -> None:
    """ValueError naming the entry (``prefix`` + key) if ``entries`` lacks one of ``types`` or holds another type."""
    for key, kind in types.items():
        if key not in entries:
            raise ValueError(f"entry {prefix}{key} is missing")
        value = entries[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join("None" if k is _NONE else k.__name__ for k in kinds)
            raise ValueError(f"entry {prefix}{key} is a {type(value).__name__}, not {names}")


def _plain(obj: Any, name: str) -> Any:
    """JSON round trip with :func:`~fastdatashapley.base.io.json_default` (numpy scalars and arrays to Python, paths
    to strings), so the file loads with ``weights_only=True``; any other type is a ValueError naming ``name``."""
    try:
        return json.loads(json.dumps(obj, default=json_default))
    except TypeError as exc:
        raise ValueError(f"explainer {name} is not JSON-serialisable ({exc})") from exc
