"""Fast-DataShapley explainers: a network phi_theta(x) -> [n, m] trained on a utility table.

Loss (paper eq. 4), for a probe x, label y and coalition s from the table:
    (v_{x,y}(s) - v_{x,y}(0) - s^T phi_theta(x, y))^2,
with the additive efficient normalisation phi <- phi + (v(1) - v(0) - 1^T phi) / n applied before the
loss and at inference (gradients flow through it). The paper samples y ~ U(Y); here every label of x is
used in each step, which is that expectation computed exactly at no extra retraining cost.

Methods differ only in the table they train on and the outputs:
FDS (kernel design, full trainer), AFDS (kernel design, approximate trainer), GFDS (group design),
GFDS+ (group-coalition design; variant ``split``: N outputs, one per group, each split evenly among its
members; variant ``penalty``: n outputs with gamma * sum_j ||phi_{D_j} - mean(phi_{D_j})|| added, eq. 6).
No sub-model is retrained while an explainer trains.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from .io import atomic_path
from .service import ServiceModel
from .training import TrainerSpec

METHODS = ("fds", "afds", "gfds", "gfds+")
NETS = ("small_cnn", "resnet50")


class SmallCNN(nn.Module):
    """Two 3x3 conv layers, adaptive pooling to 4x4 and an MLP head: ``[B, C, H, W]`` -> ``[B, n_out, m]``."""

    def __init__(self, in_channels: int, n_out: int, m: int, width: int = 32) -> None:
        super().__init__()
        self.n_out, self.m = n_out, m
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, 256), nn.ReLU(),
            nn.Linear(256, n_out * m),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).view(len(x), self.n_out, self.m)


class ResNetExplainer(nn.Module):
    """torchvision ResNet-50 with a new first conv (for C channels) and a linear head to ``[n_out, m]``.

    ``weights`` is a local state-dict file of ImageNet weights (nothing is downloaded).
    """

    def __init__(self, in_channels: int, n_out: int, m: int, weights: str | None = None) -> None:
        super().__init__()
        from torchvision.models import resnet50

        self.n_out, self.m = n_out, m
        net = resnet50(weights=None)
        if weights:
            if not os.path.exists(weights):
                raise FileNotFoundError(f"explainer.pretrained weights file {weights} does not exist")
            net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        net.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1, bias=False)
        net.fc = nn.Linear(net.fc.in_features, n_out * m)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(len(x), self.n_out, self.m)


def build_net(name: str, in_channels: int, n_out: int, m: int, pretrained: str | None = None) -> nn.Module:
    """Explainer network ``name`` (one of :data:`NETS`)."""
    if name == "small_cnn":
        return SmallCNN(in_channels, n_out, m)
    if name == "resnet50":
        return ResNetExplainer(in_channels, n_out, m, pretrained)
    raise ValueError(f"unknown explainer net {name!r}; choose one of {', '.join(NETS)}")


def normalise(phi: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Additive efficient normalisation: ``phi [B, k, m]`` shifted so that it sums to ``total [B, m]`` over k."""
    return phi + ((total - phi.sum(1)) / phi.shape[1]).unsqueeze(1)


@dataclass
class Explainer:
    """A trained explainer and everything needed to use it: the service and null models, D and the groups.

    ``values(x)`` returns ``[B, n, m]``: the Shapley value of every training point for every label.
    """

    net: nn.Module
    net_name: str
    method: str
    service: ServiceModel
    x_train: np.ndarray
    y_train: np.ndarray
    groups: list[np.ndarray] | None = None
    split_groups: bool = False
    dataset: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.y_train)

    @property
    def m(self) -> int:
        return self.service.spec.n_classes

    def check_images(self, x: np.ndarray) -> np.ndarray:
        """``x`` as float32 ``[B, C, H, W]``; clear errors for the wrong shape, channels or NaN."""
        x = np.asarray(x, dtype=np.float32)
        shape = tuple(self.service.spec.in_shape)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != shape:
            raise ValueError(f"image shape {list(x.shape)} does not fit this explainer, which takes [B, {shape[0]}, {shape[1]}, {shape[2]}] ({shape[0]} channel(s), {shape[1]}x{shape[2]} pixels)")
        if not np.isfinite(x).all():
            raise ValueError("image contains NaN or Inf")
        return x

    def raw(self, x: np.ndarray) -> torch.Tensor:
        """Normalised network outputs ``[B, n_out, m]`` (n_out = N groups for GFDS+ split, else n)."""
        x = self.check_images(x)
        total = torch.from_numpy(self.service.proba(x) - self.service.null_proba(x)).double()
        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.from_numpy(x)).double()
        return normalise(out, total)

    def values(self, x: np.ndarray) -> np.ndarray:
        """Shapley values of the n training points for every label: ``[B, n, m]`` float64."""
        phi = self.raw(x)
        if self.split_groups:
            phi = expand(phi, self.groups, self.n)
        return phi.numpy()

    def check_compatible(self, dataset: str | None = None, n: int | None = None) -> None:
        """Raise if this explainer was made for another dataset or training-set size."""
        if dataset is not None and self.dataset and dataset != self.dataset:
            raise ValueError(f"explainer was trained for dataset {self.dataset!r}, not {dataset!r}")
        if n is not None and n != self.n:
            raise ValueError(f"explainer values n = {self.n} training points, not {n}")

    def save(self, path: str | os.PathLike) -> None:
        """One self-contained file (atomic write)."""
        blob = {
            "format": 1,
            "net_name": self.net_name,
            "net_state": self.net.state_dict(),
            "n_out": int(len(self.groups) if self.split_groups else self.n),
            "method": self.method,
            "service": {"spec": self.service.spec.to_dict(), "null_state": self.service.null_state,
                        "state": self.service.state, "seed": self.service.seed},
            "x_train": torch.from_numpy(np.ascontiguousarray(self.x_train)),
            "y_train": torch.from_numpy(np.asarray(self.y_train, np.int64)),
            "groups": [torch.from_numpy(np.asarray(g, np.int64)) for g in self.groups] if self.groups else None,
            "split_groups": self.split_groups,
            "dataset": self.dataset,
            "history": self.history,
            "meta": self.meta,
        }
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Explainer":
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            s = blob["service"]
            service = ServiceModel(TrainerSpec.from_dict(s["spec"]), s["null_state"], s["state"], int(s["seed"]))
            net = build_net(blob["net_name"], service.spec.in_shape[0], blob["n_out"], service.spec.n_classes)
            net.load_state_dict(blob["net_state"])
        except Exception as exc:
            raise ValueError(f"cannot read explainer file {path}: {exc}") from exc
        groups = [g.numpy() for g in blob["groups"]] if blob["groups"] is not None else None
        return cls(net, blob["net_name"], blob["method"], service, blob["x_train"].numpy(), blob["y_train"].numpy(),
                   groups, blob["split_groups"], blob["dataset"], blob["history"], blob["meta"])


def expand(phi_groups: torch.Tensor, groups: Sequence[np.ndarray], n: int) -> torch.Tensor:
    """GFDS+ split: group values ``[B, N, m]`` -> point values ``[B, n, m]``, phi_i = phi_G / |G|."""
    owner = np.empty(n, dtype=np.int64)
    size = np.empty(n)
    for j, g in enumerate(groups):
        owner[g] = j
        size[g] = len(g)
    return phi_groups[:, torch.from_numpy(owner)] / torch.from_numpy(size).to(phi_groups.dtype)[None, :, None]


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
    gamma: float = 0.0,
    net: str = "small_cnn",
    pretrained: str | None = None,
    lr: float = 2e-4,
    max_epochs: int = 300,
    patience: int = 20,
    batch_size: int = 32,
    coalitions_per_x: int = 16,
    seed: int = 0,
    dataset: str = "",
    device: str = "auto",
    progress: bool = False,
) -> Explainer:
    """Train an explainer on ``table`` (a :class:`~fastdatashapley.utility_table.UtilityTable`).

    x_probe ``[P, C, H, W]`` are the table's probes in order; role ``[P]`` marks the explainer pool (0),
    the validation set (1) and test samples (2, never used here). GFDS+ needs ``groups`` and uses
    ``variant`` ``split`` (N outputs) or ``penalty`` (n outputs, weight ``gamma``). Adam with
    reduce-on-plateau (factor 0.5); early stopping on the validation loss over fixed validation
    coalitions, restoring the best weights.
    """
    if method not in METHODS:
        raise ValueError(f"unknown explainer method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "gfds+" and (groups is None or variant not in ("split", "penalty")):
        raise ValueError("gfds+ needs groups and variant 'split' or 'penalty'")
    role = np.asarray(role)
    if len(role) != table.n_probes or len(x_probe) != table.n_probes:
        raise ValueError(f"x_probe and role must have the table's {table.n_probes} probes, got {len(x_probe)} and {len(role)}")
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device))
    split_groups = method == "gfds+" and variant == "split"
    n, m = table.n, table.n_classes
    masks = torch.from_numpy(table.masks.astype(np.float32))
    if split_groups:  # group indicator: share of each group present (0/1 on a group-coalition design)
        masks = torch.stack([masks[:, g].mean(1) for g in groups], 1)
    gain = torch.from_numpy(table.utilities - table.null[None]).to(dev)  # [S, P, m]
    total = torch.from_numpy(table.grand - table.null).to(dev)  # [P, m]
    x_all = torch.from_numpy(np.ascontiguousarray(x_probe, dtype=np.float32)).to(dev)
    masks = masks.to(dev)
    pool, val = np.flatnonzero(role == 0), np.flatnonzero(role == 1)
    if len(pool) == 0 or len(val) == 0:
        raise ValueError("the explainer needs pool (role 0) and validation (role 1) probes")
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    model = build_net(net, x_probe.shape[1], masks.shape[1], m, pretrained).to(dev)
    val_rows = torch.randint(table.n_coalitions, (len(val), coalitions_per_x), generator=gen).to(dev)
    penalty_groups = [torch.from_numpy(np.asarray(g)).to(dev) for g in groups] if (method == "gfds+" and not split_groups) else []

    def loss_on(idx: np.ndarray, rows: torch.Tensor) -> torch.Tensor:
        p = torch.from_numpy(idx).to(dev)
        phi = normalise(model(x_all[p]), total[p])  # [B, k, m]
        s = masks[rows]  # [B, K, k]
        pred = torch.einsum("bks,bsm->bkm", s, phi)
        target = gain[rows, p[:, None]]  # [B, K, m]
        loss = ((target - pred) ** 2).mean()
        for g in penalty_groups:
            part = phi[:, g]
            loss = loss + gamma * (part - part.mean(1, keepdim=True)).norm(dim=(1, 2)).mean()
        return loss

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, patience // 3))
    best, best_state, stale, history = float("inf"), copy.deepcopy(model.state_dict()), 0, []
    from tqdm.auto import tqdm

    bar = tqdm(range(max_epochs), desc=f"explainer {method}", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(pool), generator=gen).numpy()
        total_loss = 0.0
        for i in range(0, len(pool), batch_size):
            idx = pool[order[i : i + batch_size]]
            rows = torch.randint(table.n_coalitions, (len(idx), coalitions_per_x), generator=gen).to(dev)
            loss = loss_on(idx, rows)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += float(loss.detach()) * len(idx)
        model.eval()
        with torch.no_grad():
            val_loss = float(loss_on(val, val_rows))
        sched.step(val_loss)
        history.append({"epoch": epoch, "train_loss": total_loss / len(pool), "val_loss": val_loss, "lr": opt.param_groups[0]["lr"]})
        bar.set_postfix(train=f"{total_loss / len(pool):.2e}", val=f"{val_loss:.2e}")
        if val_loss < best - 1e-12:
            best, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    meta = {"best_val_loss": best, "epochs": len(history), "table": table.meta.get("design"), "trainer": table.meta.get("trainer")}
    return Explainer(model, net, method, service, np.asarray(x_train), np.asarray(y_train),
                     [np.asarray(g) for g in groups] if groups is not None else None, split_groups, dataset, history, meta)
