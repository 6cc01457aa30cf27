"""Training an explainer on a utility table: settings, input checks, data preparation, the early-stopping loop.

:func:`fit_explainer` runs the four steps in order: :func:`check_inputs`, :func:`prepare` (the table as
tensors over the probes it reads), building the seeded net, and :func:`train` (Adam, reduce-on-plateau,
early stopping on a fixed validation set). The loss and normalisation are in :mod:`.loss`. The method's name is
a label; what changes the training is ``group_players`` (GFDS+: groups are the players).
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..base.devices import resolve_device
from ..data import POOL, ROLES, VALIDATION
from ..engine.service import ServiceModel
from ..games.coalitions import check_groups
from .fit_data import FitData, point_features, prepare, table_name
from .loss import group_penalty, normalise, sampled_loss, table_loss
from .model import BANZHAF, SHAPLEY, VALUES, VARIANTS, Explainer
from .nets import build_net, net_config, set_points

#: Explainer losses and heads (:class:`ExplainerSettings`).
LOSSES, HEADS = ("sampled", "table"), ("free", "two_tower")
#: Largest difference allowed between the table's null utilities and the service's null model on the probes.
NULL_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ExplainerSettings:
    """How an explainer is trained.

    ``variant``/``gamma``: GFDS+ ``split`` (N outputs) or ``penalty`` (n outputs, eq. 6 weight gamma).
    ``net``/``net_options``/``pretrained``: the explainer network (:mod:`~fastdatashapley.explainers.nets`).
    Adam at ``lr``; ReduceLROnPlateau (factor 0.5, ``lr_patience``, default ``max(1, patience // 3)``);
    early stopping after ``patience`` epochs without a better validation loss, at most ``max_epochs``.
    Each step takes ``batch_size`` probes with ``coalitions_per_x`` table rows each; the validation loss
    uses ``val_coalitions`` (default ``coalitions_per_x``) fixed rows per validation probe.

    ``loss``: ``sampled`` (the paper: ``coalitions_per_x`` random rows per probe and step) or ``table`` (every row of
    the table at once, from its moments; the validation loss is then exact too). ``head``: ``free`` (the paper's
    ``n x m`` output layer) or ``two_tower`` (rank ``rank`` over the service model's embedding and label of each
    training point). ``per_point``: outputs divided by n, so one ``lr`` serves every n.

    These defaults are the paper's explainer (``fds_paper``). The workflow's defaults (the config schema) are
    ``loss="table"``, ``head="two_tower"``, ``per_point=True`` and ``lr=1e-3``, which learn at n = 100 and 1000
    alike (``docs/scale.md``).
    """

    variant: str = "split"
    gamma: float = 1.0
    net: str = "small_cnn"
    net_options: dict[str, int] = field(default_factory=dict)
    pretrained: str | None = None
    lr: float = 2e-4
    max_epochs: int = 300
    patience: int = 20
    lr_patience: int | None = None
    batch_size: int = 32
    coalitions_per_x: int = 16
    val_coalitions: int | None = None
    seed: int = 0
    dataset: str = ""
    device: str = "auto"
    progress: bool = False
    loss: str = "sampled"
    head: str = "free"
    rank: int = 32
    per_point: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES or self.head not in HEADS:
            raise ValueError(f"explainer loss must be one of {', '.join(LOSSES)} and head one of {', '.join(HEADS)}, "
                             f"got loss={self.loss!r}, head={self.head!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown GFDS+ variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        for name in ("max_epochs", "patience", "batch_size", "coalitions_per_x"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and np.isfinite(self.lr)) or not (self.gamma >= 0 and np.isfinite(self.gamma)):
            raise ValueError(f"lr must be positive and gamma >= 0, got lr={self.lr}, gamma={self.gamma}")

    @classmethod
    def from_config(cls, section: dict[str, Any], **extra: Any) -> "ExplainerSettings":
        """Settings from the workflow's ``explainers`` config section (plus ``seed``, ``dataset``, ``device`` ...)."""
        keys = ("gamma", "net", "pretrained", "lr", "max_epochs", "patience", "batch_size", "coalitions_per_x")
        optional = {k: section[k] for k in ("loss", "head", "rank", "per_point") if k in section}
        return cls(variant=section["gfds_plus_variant"], **{k: section[k] for k in keys}, **optional, **extra)

    def all_net_options(self, n_features: int) -> dict[str, int]:
        """The net options these settings add to ``net_options``: the output scale and the two-tower head."""
        extra = {"per_point": 1} if self.per_point else {}
        if self.head == "two_tower":
            extra |= {"rank": int(self.rank), "features": int(n_features)}
        return {**(self.net_options or {}), **extra}


def _minibatches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into minibatches of ``batch_size``; a last one of a single probe joins the one before it
    (batch-norm nets such as ResNet-50 cannot train on one sample)."""
    cuts = list(range(0, len(order), batch_size))
    if len(cuts) > 1 and len(order) - cuts[-1] == 1:
        cuts.pop()
    return [order[a:b] for a, b in zip(cuts, cuts[1:] + [len(order)])]


def check_inputs(table, x_probe: np.ndarray, role: np.ndarray, service: ServiceModel, x_train: np.ndarray,
                 y_train: np.ndarray, method: str, groups: Sequence[np.ndarray] | None,
                 group_players: bool = False) -> list[np.ndarray] | None:
    """Validate a fit's inputs against the table and the service model; returns the checked groups."""
    spec, n = service.spec, table.n
    if x_probe.ndim != 4 or tuple(x_probe.shape[1:]) != tuple(spec.in_shape) or len(x_probe) != table.n_probes:
        raise ValueError(f"x_probe must have shape [{table.n_probes}, {', '.join(map(str, spec.in_shape))}] "
                         f"(the table's probes, the service model's images), got {list(x_probe.shape)}")
    if len(role) != table.n_probes or not np.isin(role, ROLES).all():
        raise ValueError(f"role must hold 0 (pool), 1 (validation) or 2 (test) for each of the table's "
                         f"{table.n_probes} probes")
    if table.n_classes != spec.n_classes:
        raise ValueError(f"the table has m = {table.n_classes} labels but the service model {spec.n_classes}")
    if len(y_train) != n or x_train.shape != (n, *spec.in_shape):
        raise ValueError(f"x_train {list(x_train.shape)} and y_train {list(y_train.shape)} must hold the table's "
                         f"n = {n} training points")
    groups = check_groups(groups, n) if groups is not None else None
    if group_players and groups is None:
        raise ValueError(f"method {method} values groups as players and needs groups (a partition of the training set)")
    used = np.concatenate([np.flatnonzero(role == POOL), np.flatnonzero(role == VALIDATION)])
    if not (role == POOL).any() or not (role == VALIDATION).any():
        raise ValueError("the explainer needs pool (role 0) and validation (role 1) probes")
    null_gap = float(np.abs(service.null_proba(x_probe[used]) - table.null[used]).max())
    if null_gap > NULL_TOLERANCE:
        raise ValueError(f"{table_name(table)} does not match the service model: its null utilities differ from "
                         f"the null model's outputs on x_probe by {null_gap:.3g} (other probes, probe order or "
                         "initial weights?)")
    return groups


def _batch_loss(model: nn.Module, data: FitData, idx: np.ndarray, rows: torch.Tensor, gamma: float) -> torch.Tensor:
    """The loss (plus the GFDS+ penalty) of probes ``idx``: on table rows ``rows [len(idx), K]``, or on every row
    (``table`` loss). Shapley values are normalised to be efficient first; Banzhaf values are not."""
    p = torch.from_numpy(idx).to(data.x.device)
    phi = model(data.x[p])
    values = normalise(phi, data.total[p]) if data.value == SHAPLEY else phi
    if data.moments is None:
        loss = sampled_loss(values, data.s[rows], data.gain[p[:, None], rows])
    else:
        a, b, c = data.moments
        loss = table_loss(values, a, b[p], c[p])
    if data.pen_groups and gamma > 0:
        loss = loss + gamma * group_penalty(values, data.pen_groups)
    return loss


def _val_loss(model: nn.Module, data: FitData, rows: torch.Tensor, settings: ExplainerSettings) -> float:
    """Mean loss over the validation probes on their fixed rows ``rows [V, K]``."""
    model.eval()
    acc, b = 0.0, settings.batch_size
    with torch.no_grad():
        for i in range(0, len(data.val), b):
            acc += float(_batch_loss(model, data, data.val[i : i + b], rows[i : i + b], settings.gamma)) * len(
                data.val[i : i + b])
    return acc / len(data.val)


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer, data: FitData, gen: torch.Generator,
                 settings: ExplainerSettings) -> float:
    """One pass over the pool in seeded minibatches; returns the mean training loss."""
    model.train()
    order = data.pool[torch.randperm(len(data.pool), generator=gen).numpy()]
    n_rows, total = data.s.shape[0], 0.0
    for idx in _minibatches(order, settings.batch_size):
        rows = torch.randint(n_rows, (len(idx), settings.coalitions_per_x), generator=gen).to(data.x.device)
        loss = _batch_loss(model, data, idx, rows, settings.gamma)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(idx)
    return total / len(order)


#: An explainer whose best validation loss is not this fraction below its untrained net's has not learned.
MIN_IMPROVEMENT = 1e-3


def untrained_message(method: str, best: float, untrained: float, epochs: int) -> str | None:
    """The warning for an explainer that never left its untrained start, or None when it did."""
    if best < untrained * (1 - MIN_IMPROVEMENT):
        return None
    return (f"explainer {method}: after {epochs} epochs the best validation loss {best:.4g} is not "
            f"{MIN_IMPROVEMENT:.1%} below the untrained net's {untrained:.4g}, so its values are (nearly) the "
            f"untrained net's, close to the uniform split; lower explainers.lr or raise explainers.patience")


def train(model: nn.Module, data: FitData, settings: ExplainerSettings,
          method: str) -> tuple[float, float, list[dict]]:
    """Adam with reduce-on-plateau and early stopping; restores the best weights.

    Returns (best validation loss, the untrained net's validation loss, history)."""
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(int(settings.seed) + 1)
    k = int(settings.val_coalitions or settings.coalitions_per_x)
    val_rows = torch.randint(data.s.shape[0], (len(data.val), k), generator=gen).to(data.x.device)
    opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
    lr_patience = max(1, settings.patience // 3) if settings.lr_patience is None else settings.lr_patience
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=lr_patience)
    best, best_state, stale, history = _val_loss(model, data, val_rows, settings), copy.deepcopy(model.state_dict()), 0, []
    untrained = best
    t0 = time.perf_counter()
    bar = tqdm(range(settings.max_epochs), desc=f"explainer {method}", disable=not settings.progress)
    for epoch in bar:
        train_loss = _train_epoch(model, opt, data, gen, settings)
        v = _val_loss(model, data, val_rows, settings)
        if not np.isfinite(v):
            raise FloatingPointError(f"explainer {method}: validation loss became {v} in epoch {epoch}; lower lr")
        sched.step(v)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": v, "lr": opt.param_groups[0]["lr"],
                        "seconds": time.perf_counter() - t0})
        bar.set_postfix(train=f"{train_loss:.3e}", val=f"{v:.3e}")
        if v < best:
            best, best_state, stale = v, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    model.load_state_dict(best_state)
    return best, untrained, history


def fit_explainer(table, x_probe: np.ndarray, role: np.ndarray, service: ServiceModel, x_train: np.ndarray,
                  y_train: np.ndarray, *, method: str, groups: Sequence[np.ndarray] | None = None,
                  group_players: bool = False, value: str = SHAPLEY,
                  settings: ExplainerSettings | None = None) -> Explainer:
    """Train an explainer on ``table`` (a :class:`~fastdatashapley.engine.utility_table.UtilityTable`).

    x_probe ``[P, C, H, W]``: the table's probes in order; role ``[P]``: :data:`~fastdatashapley.data.POOL`,
    ``VALIDATION`` or ``TEST`` (never used here). ``method`` names the explainer; ``group_players`` (GFDS+) trains
    on group coalitions with ``settings.variant`` and needs ``groups`` (a partition of range(n)), which other
    methods keep as metadata (GFDS). ``value``: ``shapley`` (efficient values, the paper's loss) or ``banzhaf`` (the
    regression on uniform subsets with a free intercept; train it on the ``banzhaf`` design). Seeded and deterministic on the CPU; the global torch RNG is
    left untouched. ``history`` holds per-epoch ``epoch, train_loss, val_loss, lr, seconds``.
    """
    settings = settings or ExplainerSettings()
    x_probe = np.ascontiguousarray(x_probe, dtype=np.float32)
    role = np.asarray(role).ravel()
    x_train, y_train = np.asarray(x_train, np.float32), np.asarray(y_train, np.int64)
    if value not in VALUES:
        raise ValueError(f"explainer value must be one of {', '.join(VALUES)}, got {value!r}")
    groups = check_inputs(table, x_probe, role, service, x_train, y_train, method, groups, group_players)
    dev = resolve_device(settings.device)
    data = prepare(table, x_probe, role, group_players, groups, settings, dev, value)
    split = group_players and settings.variant == "split"
    points = point_features(service, x_train, y_train, table.n_classes, groups if split else None) \
        if settings.head == "two_tower" else None
    config = net_config(settings.net, service.spec.in_shape, data.s.shape[1], table.n_classes,
                        **settings.all_net_options(0 if points is None else points.shape[1]))
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(settings.seed))  # CPU generator only; nets are built there
        model = build_net(config, settings.pretrained)
        if points is not None:
            set_points(model, points)
        model = model.to(dev)
    t0 = time.perf_counter()
    best, untrained, history = train(model, data, settings, method)
    model.to("cpu").eval()
    warning = untrained_message(method, best, untrained, len(history))
    if warning:
        warnings.warn(warning, RuntimeWarning, stacklevel=2)
    meta = {"best_val_loss": best, "untrained_val_loss": untrained, "epochs": len(history), "seconds": time.perf_counter() - t0,
            "seed": int(settings.seed), "design": table.meta.get("design"), "trainer": table.meta.get("trainer"),
            "table": table.source, "n_coalitions": table.n_coalitions, "lr": settings.lr,
            "gamma": settings.gamma if data.pen_groups else None, "coalitions_per_x": settings.coalitions_per_x,
            "batch_size": settings.batch_size, "device": str(dev), "loss": settings.loss, "head": settings.head}
    return Explainer(model, config, method, service, x_train, y_train, groups,
                     settings.variant if group_players else None, settings.dataset, history, meta, value=value)
