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
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .coalitions import check_groups
from .devices import resolve_device
from .explainer_nets import build_net, net_config
from .io import atomic_path
from .predict import predict_chunked
from .service import ServiceModel
from .training import TrainerSpec

METHODS = ("fds", "afds", "gfds", "gfds+")
VARIANTS = ("split", "penalty")
FORMAT = 2
#: Probe roles in a table's probe set.
POOL, VALIDATION, TEST = 0, 1, 2
#: Largest difference allowed between the table's null utilities and the service's null model on the probes.
NULL_TOLERANCE = 1e-3


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
        """``x`` ``[B, C, H, W]`` (or one ``[C, H, W]``) as float32; ValueError for a wrong shape, channels or NaN."""
        x = np.asarray(x, dtype=np.float32)
        c, h, w = self.in_shape
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise ValueError(
                f"{name} shape {list(x.shape)} does not fit this explainer, which takes [B, {c}, {h}, {w}] "
                f"({c} channel{'s' if c > 1 else ''} of {h}x{w} pixels)"
            )
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or Inf")
        return x

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
            "history": _plain(self.history),
            "meta": _plain(self.meta),
        }
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Explainer":
        """Read and validate a file written by :meth:`save`; every error is a ValueError naming ``path``."""
        if not os.path.isfile(path):
            raise ValueError(f"explainer file {path} does not exist")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot read explainer file {path}: it is not a saved explainer ({exc})") from exc
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
        net = build_net(cfg)
        net.load_state_dict(blob["net_state"])
        return cls(net, cfg, blob["method"], service, x_train, y_train, groups, blob["variant"], blob["dataset"],
                   list(blob["history"]), dict(blob["meta"]))


def _plain(obj: Any) -> Any:
    """JSON round trip (numpy scalars and arrays to Python), so the file loads with ``weights_only=True``."""
    def default(o: Any) -> Any:
        if isinstance(o, (np.generic, np.ndarray)):
            return o.tolist()
        return str(o)

    return json.loads(json.dumps(obj, default=default))


# ---------------------------------------------------------------------------------------------------
# training


def _minibatches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into minibatches of ``batch_size``; a last one of a single probe joins the one before it
    (batch-norm nets such as ResNet-50 cannot train on one sample)."""
    cuts = list(range(0, len(order), batch_size))
    if len(cuts) > 1 and len(order) - cuts[-1] == 1:
        cuts.pop()
    return [order[a:b] for a, b in zip(cuts, cuts[1:] + [len(order)])]


def _table_name(table: Any) -> str:
    return f"utility table {table.source}" if getattr(table, "source", None) else "the utility table"


def fit_explainer(
    table,
    x_probe: np.ndarray,
    role: np.ndarray,
    service: ServiceModel,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    method: str,
    groups: Sequence[np.ndarray] | None = None,
    variant: str = "split",
    gamma: float = 1.0,
    net: str = "small_cnn",
    net_options: dict[str, int] | None = None,
    pretrained: str | os.PathLike | None = None,
    lr: float = 2e-4,
    max_epochs: int = 300,
    patience: int = 20,
    lr_patience: int | None = None,
    batch_size: int = 32,
    coalitions_per_x: int = 16,
    val_coalitions: int | None = None,
    seed: int = 0,
    dataset: str = "",
    device: str = "auto",
    progress: bool = False,
) -> Explainer:
    """Train an explainer on ``table`` (a :class:`~fastdatashapley.utility_table.UtilityTable`).

    x_probe ``[P, C, H, W]``: the table's probes in order; role ``[P]``: explainer pool (0), validation (1),
    test (2, never used here). ``groups`` (a partition of range(n)) is required for ``gfds+`` and kept as
    metadata for ``gfds``. GFDS+ ``variant``: ``split`` (N outputs) or ``penalty`` (n outputs, weight ``gamma``).

    Adam at ``lr``; ReduceLROnPlateau (factor 0.5, ``lr_patience``, default ``max(1, patience // 3)``) on the
    validation loss, which is the loss on every validation probe with ``val_coalitions`` (default
    ``coalitions_per_x``) fixed, seeded table rows each; early stopping after ``patience`` epochs without
    improvement, at most ``max_epochs``; the best weights are restored. Each epoch visits the pool once in
    minibatches of ``batch_size`` probes, each with ``coalitions_per_x`` table rows drawn uniformly.
    Seeded and deterministic on the CPU; the global torch RNG is left untouched. ``history`` holds per-epoch
    ``epoch, train_loss, val_loss, lr, seconds``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown explainer method {method!r}; choose one of {', '.join(METHODS)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown GFDS+ variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    for name, value in (("max_epochs", max_epochs), ("patience", patience), ("batch_size", batch_size),
                        ("coalitions_per_x", coalitions_per_x)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not (lr > 0 and np.isfinite(lr)) or not (gamma >= 0 and np.isfinite(gamma)):
        raise ValueError(f"lr must be positive and gamma >= 0, got lr={lr}, gamma={gamma}")
    spec = service.spec
    n, m = table.n, table.n_classes
    x_probe = np.ascontiguousarray(x_probe, dtype=np.float32)
    role = np.asarray(role).ravel()
    if x_probe.ndim != 4 or tuple(x_probe.shape[1:]) != tuple(spec.in_shape) or len(x_probe) != table.n_probes:
        raise ValueError(f"x_probe must have shape [{table.n_probes}, {', '.join(map(str, spec.in_shape))}] "
                         f"(the table's probes, the service model's images), got {list(x_probe.shape)}")
    if len(role) != table.n_probes or not np.isin(role, (POOL, VALIDATION, TEST)).all():
        raise ValueError(f"role must hold 0 (pool), 1 (validation) or 2 (test) for each of the table's {table.n_probes} probes")
    if m != spec.n_classes:
        raise ValueError(f"the table has m = {m} labels but the service model {spec.n_classes}")
    x_train, y_train = np.asarray(x_train, np.float32), np.asarray(y_train, np.int64)
    if len(y_train) != n or x_train.shape != (n, *spec.in_shape):
        raise ValueError(f"x_train {list(x_train.shape)} and y_train {list(y_train.shape)} must hold the table's n = {n} training points")
    if groups is not None:
        groups = check_groups(groups, n)
    if method == "gfds+" and groups is None:
        raise ValueError("method gfds+ needs groups (a partition of the training set)")
    pool, val = np.flatnonzero(role == POOL), np.flatnonzero(role == VALIDATION)
    if len(pool) == 0 or len(val) == 0:
        raise ValueError("the explainer needs pool (role 0) and validation (role 1) probes")
    null_gap = float(np.abs(service.null_proba(x_probe[np.concatenate([pool, val])]) - table.null[np.concatenate([pool, val])]).max())
    if null_gap > NULL_TOLERANCE:
        raise ValueError(f"{_table_name(table)} does not match the service model: its null utilities differ from the null "
                         f"model's outputs on x_probe by {null_gap:.3g} (other probes, probe order or initial weights?)")
    split = method == "gfds+" and variant == "split"
    masks = table.masks
    if split:
        first = np.array([g[0] for g in groups])
        owner = np.empty(n, np.int64)
        for j, g in enumerate(groups):
            owner[g] = j
        if not np.array_equal(masks, masks[:, first][:, owner]):
            raise ValueError(f"{_table_name(table)} is not a group-coalition design for these groups (a coalition splits a group); "
                             "GFDS+ split needs the gfds_plus design")
        masks = masks[:, first]

    dev = resolve_device(device)
    used = np.concatenate([pool, val])  # probes this fit reads, in this order
    x_used = torch.from_numpy(x_probe[used]).to(dev)
    gain = torch.from_numpy(np.ascontiguousarray((table.utilities[:, used] - table.null[None, used]).transpose(1, 0, 2))).to(dev)  # [P', S, m]
    total = torch.from_numpy(table.grand[used] - table.null[used]).to(dev)  # [P', m]
    s_all = torch.from_numpy(masks.astype(np.float32)).to(dev)  # [S, k]
    pool_l, val_l = np.arange(len(pool)), np.arange(len(pool), len(used))  # positions in ``used``
    n_rows = table.n_coalitions
    config = net_config(net, spec.in_shape, s_all.shape[1], m, **(net_options or {}))
    pen_groups = [torch.from_numpy(g).to(dev) for g in groups] if method == "gfds+" and not split else []

    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))  # CPU generator only; nets are built on the CPU
        model = build_net(config, pretrained).to(dev)
    gen = torch.Generator().manual_seed(int(seed) + 1)
    val_rows = torch.randint(n_rows, (len(val_l), int(val_coalitions or coalitions_per_x)), generator=gen).to(dev)

    def batch_loss(idx: np.ndarray, rows: torch.Tensor) -> torch.Tensor:
        p = torch.from_numpy(idx).to(dev)
        phi = model(x_used[p])
        loss = fds_loss(phi, total[p], s_all[rows], gain[p[:, None], rows])
        if pen_groups and gamma > 0:
            loss = loss + gamma * group_penalty(normalise(phi, total[p]), pen_groups)
        return loss

    def val_loss() -> float:
        model.eval()
        acc = 0.0
        with torch.no_grad():
            for i in range(0, len(val_l), batch_size):
                acc += float(batch_loss(val_l[i : i + batch_size], val_rows[i : i + batch_size])) * len(val_l[i : i + batch_size])
        return acc / len(val_l)

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, patience // 3) if lr_patience is None else lr_patience)
    best, best_state, stale, history = val_loss(), copy.deepcopy(model.state_dict()), 0, []
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    bar = tqdm(range(max_epochs), desc=f"explainer {method}", disable=not progress)
    for epoch in bar:
        model.train()
        order = pool_l[torch.randperm(len(pool_l), generator=gen).numpy()]
        train = 0.0
        for idx in _minibatches(order, batch_size):
            rows = torch.randint(n_rows, (len(idx), coalitions_per_x), generator=gen).to(dev)
            loss = batch_loss(idx, rows)
            opt.zero_grad()
            loss.backward()
            opt.step()
            train += float(loss.detach()) * len(idx)
        v = val_loss()
        if not np.isfinite(v):
            raise FloatingPointError(f"explainer {method}: validation loss became {v} in epoch {epoch}; lower lr")
        sched.step(v)
        history.append({"epoch": epoch, "train_loss": train / len(order), "val_loss": v,
                        "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0})
        bar.set_postfix(train=f"{train / len(order):.3e}", val=f"{v:.3e}")
        if v < best:
            best, best_state, stale = v, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    meta = {"best_val_loss": best, "epochs": len(history), "seconds": time.perf_counter() - t0, "seed": int(seed),
            "design": table.meta.get("design"), "trainer": table.meta.get("trainer"), "table": table.source,
            "n_coalitions": n_rows, "lr": lr, "gamma": gamma if pen_groups else None,
            "coalitions_per_x": coalitions_per_x, "batch_size": batch_size, "device": str(dev)}
    return Explainer(model, config, method, service, x_train, y_train, groups,
                     variant if method == "gfds+" else None, dataset, history, meta)
