"""Fast-DataShapley explainers: a network phi_theta(x) -> [n, m] trained on a utility table.

Loss (paper eq. 4), for a probe x, a label y and a coalition s (a row of the table):
    (v_{x,y}(s) - v_{x,y}(0) - s^T phi_theta(x, y))^2,
with the additive efficient normalisation phi <- phi + (v(1) - v(0) - 1^T phi) / n_out applied before the
loss and at inference (gradients flow through it). The paper samples y ~ U(Y); every label of x is used
in each step instead, which computes that expectation exactly (one sub-model gives all labels at once).
Each step draws ``coalitions_per_x`` rows of the table uniformly for every x; the rows are already
Shapley-kernel draws (paired), so this samples s ~ P(s). No sub-model is retrained while an explainer trains.

Methods differ in the table they train on and in the outputs:

* ``fds``: kernel design, full trainer. ``afds``: kernel design, approximate (K-epoch) trainer. Nothing in
  the training differs; the table's trainer spec is kept in ``meta``.
* ``gfds``: group design (players: the members of D_j plus every other group as one player), same loss on
  data masks, n outputs.
* ``gfds+``: group-coalition design. Variant ``split``: N outputs (one per group), s is the group
  indicator, normalisation over N, and at inference each group's value is split evenly among its members
  (phi_i = phi_G / |G|). Variant ``penalty``: n outputs trained with gamma * sum_j ||phi_{D_j} -
  mean(phi_{D_j})|| added (eq. 6; the norm is over the members of D_j, averaged over labels and samples);
  values are the n outputs as they are.

At inference v(1) - v(0) comes from the service model f_D and the null model (``ServiceModel.proba`` and
``null_proba`` on x), so the values of any image sum exactly (to float64 rounding) to f_D(x) - f_0(x).
Training (:func:`~fastdatashapley.explainer_training.fit_explainer`) is in :mod:`fastdatashapley.explainer_training`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .checks import check_batch_size, check_pixels, check_service_states, check_state_dict, expected_shapes
from .coalitions import check_groups
from .explainer_nets import build_net, net_config
from .io import atomic_path, json_default
from .predict import predict_chunked
from .service import ServiceModel
from .training import TrainerSpec

METHODS = ("fds", "afds", "gfds", "gfds+")
VARIANTS = ("split", "penalty")
FORMAT = 2


# ---------------------------------------------------------------------------------------------------
# the loss


def normalise(phi: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Additive efficient normalisation: ``phi [B, k, m]`` shifted so that it sums to ``total [B, m]`` over k."""
    return phi + ((total - phi.sum(1)) / phi.shape[1]).unsqueeze(1)


def fds_loss(phi: torch.Tensor, total: torch.Tensor, s: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """Mean over x, coalitions and labels of ``(gain - s^T normalise(phi))^2``.

    phi ``[B, k, m]`` raw net outputs; total ``[B, m]`` = v(1) - v(0); s ``[B, K, k]`` coalitions (0/1, or
    group indicators); gain ``[B, K, m]`` = v(s) - v(0).
    """
    pred = torch.einsum("bsk,bkm->bsm", s, normalise(phi, total))
    return ((gain - pred) ** 2).mean()


def group_penalty(phi: torch.Tensor, groups: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. 6 without gamma: sum_j ||phi_{D_j} - mean(phi_{D_j})||_2 over the members of D_j, for ``phi [B, n, m]``.

    The norm is taken per sample and label, then averaged over both (the loss's expectation over x and y).
    """
    total = phi.new_zeros(())
    for g in groups:
        part = phi[:, g]  # [B, |G|, m]
        total = total + torch.linalg.vector_norm(part - part.mean(1, keepdim=True), dim=1).mean()
    return total


def expand(phi_groups: torch.Tensor, groups: Sequence[np.ndarray], n: int) -> torch.Tensor:
    """GFDS+ split: group values ``[B, N, m]`` -> point values ``[B, n, m]``, phi_i = phi_G / |G|."""
    owner = np.empty(n, dtype=np.int64)
    size = np.empty(n)
    for j, g in enumerate(groups):
        owner[g] = j
        size[g] = len(g)
    return phi_groups[:, torch.from_numpy(owner)] / torch.from_numpy(size).to(phi_groups)[None, :, None]


# ---------------------------------------------------------------------------------------------------
# the explainer


@dataclass
class Explainer:
    """A trained explainer with all it needs at inference: the service and null models, D and the groups.

    ``values(x)`` returns ``[B, n, m]`` float64: the value of every training point for every label.
    ``variant`` is ``"split"`` or ``"penalty"`` for GFDS+, else ``None``. ``net_config`` is the
    :func:`~fastdatashapley.explainer_nets.net_config` dict of ``net``.
    """

    net: nn.Module
    net_config: dict[str, Any]
    method: str
    service: ServiceModel
    x_train: np.ndarray
    y_train: np.ndarray
    groups: list[np.ndarray] | None = None
    variant: str | None = None
    dataset: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    _models: tuple[nn.Module, nn.Module] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.net.eval()
        self.x_train = np.asarray(self.x_train, dtype=np.float32)
        self.y_train = np.asarray(self.y_train, dtype=np.int64)
        if self.groups is not None:
            self.groups = check_groups(self.groups, self.n)

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of training points valued."""
        return len(self.y_train)

    @property
    def m(self) -> int:
        """Number of labels."""
        return self.service.spec.n_classes

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.service.spec.in_shape)  # type: ignore[return-value]

    @property
    def split_groups(self) -> bool:
        """True when the net outputs one value per group (GFDS+ ``split``)."""
        return self.variant == "split"

    # -- input checks ----------------------------------------------------------------------------
    def check_images(self, x: Any, name: str = "image") -> np.ndarray:
        """``x`` ``[B, C, H, W]`` (or one ``[C, H, W]``) as float32; ValueError for a wrong shape or channels, values
        that are not numbers, NaN or Inf, or pixels outside [0, 1] (the training range; the CLI checks the same)."""
        x = np.asarray(x)
        c, h, w = self.in_shape
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise ValueError(
                f"{name} shape {list(x.shape)} does not fit this explainer, which takes [B, {c}, {h}, {w}] "
                f"({c} channel{'s' if c > 1 else ''} of {h}x{w} pixels)"
            )
        return check_pixels(x, name)

    def check_labels(self, labels: Any, count: int) -> np.ndarray:
        """``labels`` as int64 ``[count]`` in [0, m); a scalar is broadcast."""
        arr = np.asarray(labels)
        if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            raise ValueError(f"labels must be integers, got {arr.dtype}")
        arr = np.broadcast_to(arr.astype(np.int64), (count,)) if arr.ndim == 0 else arr.astype(np.int64)
        if arr.shape != (count,):
            raise ValueError(f"labels must have shape [{count}], got {list(arr.shape)}")
        bad = arr[(arr < 0) | (arr >= self.m)]
        if len(bad):
            raise ValueError(f"label {int(bad[0])} is out of range: this explainer's labels are 0..{self.m - 1}")
        return arr

    def check_compatible(self, dataset: str | None = None, n: int | None = None, in_shape: Sequence[int] | None = None,
                         n_classes: int | None = None) -> None:
        """Raise ValueError if this explainer was made for another dataset, training-set size, image shape or label count."""
        if dataset is not None and dataset != self.dataset:
            raise ValueError(f"explainer was trained for dataset {self.dataset!r}, not {dataset!r}")
        if n is not None and int(n) != self.n:
            raise ValueError(f"explainer values n = {self.n} training points, not {n}")
        if in_shape is not None and tuple(int(s) for s in in_shape) != self.in_shape:
            raise ValueError(f"explainer takes images of shape {list(self.in_shape)}, not {list(in_shape)}")
        if n_classes is not None and int(n_classes) != self.m:
            raise ValueError(f"explainer has m = {self.m} labels, not {n_classes}")

    # -- inference -------------------------------------------------------------------------------
    def _service_proba(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax ``[B, m]`` float32 of f_D and of the null model on checked images, as ``ServiceModel.proba`` and
        ``null_proba`` compute them (same layers, weights and 4096-image chunks), with the two nets built once."""
        if self._models is None:
            nets = []
            for state in (self.service.state, self.service.null_state):
                net = self.service.spec.build()
                net.load_state_dict(state)
                nets.append(net.eval())
            self._models = (nets[0], nets[1])
        return predict_chunked(self._models[0], x), predict_chunked(self._models[1], x)

    def predict(self, x: Any) -> np.ndarray:
        """The service model's predicted labels ``[B]`` for images ``x``."""
        return self._service_proba(self.check_images(x))[0].argmax(1)

    def raw(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Normalised network outputs ``[B, n_out, m]`` float64 (n_out = N groups for GFDS+ split, else n)."""
        batch_size = check_batch_size(batch_size)
        x = self.check_images(x)
        full, null = self._service_proba(x)
        total = full.astype(np.float64) - null.astype(np.float64)
        out = np.empty((len(x), self.net_config["n_out"], self.m))
        self.net.eval()
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                phi = self.net(torch.from_numpy(x[i : i + batch_size])).double()
                out[i : i + batch_size] = normalise(phi, torch.from_numpy(total[i : i + batch_size])).numpy()
        return out

    def values(self, x: Any, batch_size: int = 256) -> np.ndarray:
        """Values of the n training points for every label: ``[B, n, m]`` float64; they sum over n to f_D(x) - f_0(x)."""
        phi = self.raw(x, batch_size)
        if self.split_groups:
            phi = expand(torch.from_numpy(phi), self.groups, self.n).numpy()
        return phi

    def values_for(self, x: Any, labels: Any = None) -> np.ndarray:
        """Values ``[B, n]`` for one label per image (default: the service model's prediction)."""
        x = self.check_images(x)
        labels = self.predict(x) if labels is None else self.check_labels(labels, len(x))
        return self.values(x)[np.arange(len(x)), :, labels]

    # -- persistence -----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-able summary: method, dataset, shapes, net, training history summary."""
        return {
            "method": self.method, "variant": self.variant, "dataset": self.dataset, "n": self.n, "m": self.m,
            "in_shape": list(self.in_shape), "net": self.net_config,
            "groups": [len(g) for g in self.groups] if self.groups is not None else None,
            "epochs": len(self.history), "best_val_loss": self.meta.get("best_val_loss"),
            "service_arch": self.service.spec.arch,
        }

    def save(self, path: str | os.PathLike) -> None:
        """One self-contained file (torch zip; atomic write): net weights and config, service and null models,
        x_train/y_train, groups, method, dataset, history and metadata."""
        blob = {
            "format": FORMAT,
            "net_config": self.net_config,
            "net_state": {k: v.detach().cpu() for k, v in self.net.state_dict().items()},
            "method": self.method,
            "variant": self.variant,
            "service": {"spec": self.service.spec.to_dict(), "null_state": self.service.null_state,
                        "state": self.service.state, "seed": int(self.service.seed)},
            "x_train": torch.from_numpy(np.ascontiguousarray(self.x_train)),
            "y_train": torch.from_numpy(np.ascontiguousarray(self.y_train)),
            "groups": [torch.from_numpy(np.asarray(g, np.int64)) for g in self.groups] if self.groups is not None else None,
            "dataset": self.dataset,
            "history": _plain(self.history, "history"),
            "meta": _plain(self.meta, "meta"),
        }
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Explainer":
        """Read and validate a file written by :meth:`save`; every error is a ValueError naming ``path``.

        Untrusted files are safe to load: ``torch.load`` runs with ``weights_only=True``, and every stored shape is
        checked against the stored config before a net is built, so nothing larger than the file is allocated.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise ValueError(f"explainer path must be a file path (str or os.PathLike), got {path!r}")
        if os.path.isdir(path):
            raise ValueError(f"explainer path {path} is a directory, not an explainer file")
        if not os.path.isfile(path):
            raise ValueError(f"explainer file {path} does not exist")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            # torch's own message advises weights_only=False, which would run code from the file: never say it
            raise ValueError(f"{path} is not an explainer file") from None
        try:
            return cls._from_blob(blob)
        except Exception as exc:
            raise ValueError(f"explainer file {path} is invalid: {exc}") from exc

    @classmethod
    def _from_blob(cls, blob: Any) -> "Explainer":
        if not isinstance(blob, dict) or "format" not in blob:
            raise ValueError("not a saved explainer")
        if blob["format"] != FORMAT:
            raise ValueError(f"format {blob['format']}, this version reads format {FORMAT}; retrain the explainer")
        missing = sorted({"net_config", "net_state", "method", "variant", "service", "x_train", "y_train", "groups",
                          "dataset", "history", "meta"} - set(blob))
        if missing:
            raise ValueError(f"missing entries {missing}")
        s = blob["service"]
        check_service_states(s["spec"], {"service state": s["state"], "service null_state": s["null_state"]})
        service = ServiceModel(TrainerSpec.from_dict(s["spec"]), s["null_state"], s["state"], int(s["seed"]))
        x_train, y_train = blob["x_train"].numpy(), blob["y_train"].numpy()
        cfg = net_config(**{k: blob["net_config"][k] for k in ("name", "in_shape", "n_out", "m")}, **blob["net_config"]["options"])
        spec = service.spec
        if tuple(cfg["in_shape"]) != tuple(spec.in_shape) or cfg["m"] != spec.n_classes:
            raise ValueError(f"net takes {cfg['in_shape']} with m = {cfg['m']}, the service model {list(spec.in_shape)} with m = {spec.n_classes}")
        if x_train.shape[1:] != tuple(spec.in_shape) or len(x_train) != len(y_train) or y_train.ndim != 1:
            raise ValueError(f"x_train {list(x_train.shape)} and y_train {list(y_train.shape)} do not fit images {list(spec.in_shape)}")
        if len(y_train) and (y_train.min() < 0 or y_train.max() >= spec.n_classes):
            raise ValueError(f"y_train has labels outside 0..{spec.n_classes - 1}")
        if blob["method"] not in METHODS or blob["variant"] not in (None, *VARIANTS):
            raise ValueError(f"unknown method {blob['method']!r} or variant {blob['variant']!r}")
        groups = [g.numpy() for g in blob["groups"]] if blob["groups"] is not None else None
        n_out = len(groups) if blob["variant"] == "split" and groups is not None else len(y_train)
        if cfg["n_out"] != n_out:
            raise ValueError(f"net has {cfg['n_out']} outputs, expected {n_out}")
        check_state_dict(blob["net_state"], expected_shapes(lambda: build_net(cfg)), "net_state")
        net = build_net(cfg)
        net.load_state_dict(blob["net_state"])
        return cls(net, cfg, blob["method"], service, x_train, y_train, groups, blob["variant"], blob["dataset"],
                   list(blob["history"]), dict(blob["meta"]))


def _plain(obj: Any, name: str) -> Any:
    """JSON round trip with :func:`~fastdatashapley.io.json_default` (numpy scalars and arrays to Python, paths
    to strings), so the file loads with ``weights_only=True``; any other type is a ValueError naming ``name``."""
    try:
        return json.loads(json.dumps(obj, default=json_default))
    except TypeError as exc:
        raise ValueError(f"explainer {name} is not JSON-serialisable ({exc})") from exc
