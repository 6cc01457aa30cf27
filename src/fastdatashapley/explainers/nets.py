"""Explainer networks phi_theta: images ``[B, C, H, W]`` -> values ``[B, n_out, m]`` (float32).

``n_out`` is the number of players the explainer values (n training points, or N groups for GFDS+ with
the ``split`` variant) and ``m`` the number of labels. Three architectures (:data:`NETS`):

* ``small_cnn``: conv 3x3 -> ReLU -> maxpool 2 -> conv 3x3 -> ReLU -> adaptive average pool to 4x4 ->
  MLP head. Fast on a CPU; the default.
* ``small_unet``: a two-level UNet (conv blocks, max-pool down, nearest up, skip concatenation) followed
  by the same pooled MLP head (the authors' code uses a small UNet that takes x only).
* ``resnet50``: torchvision ResNet-50 with a new first conv (3x3, stride 1, for C channels), no stem
  max-pool (inputs here are 8 to 32 pixels wide) and a new linear head (the paper). ImageNet weights come
  from a local state-dict file (``pretrained``); nothing is ever downloaded.

Every net works for 1x8x8 digits, 1x28x28 and 3x32x32 images (any H, W >= 1). The last linear layer
starts at zero, so an untrained explainer predicts the uniform split (v(1) - v(0)) / n_out after the
efficient normalisation.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..engine.states import parameter_count

NETS = ("small_cnn", "small_unet", "resnet50")
#: Options each net accepts (besides in_shape, n_out and m), with their defaults.
#: ``per_point`` 1 divides the outputs by n_out, so that one learning rate serves every n (values scale as 1/n);
#: ``rank`` > 0 replaces the free ``n_out x m`` output layer by a two-tower head of that rank over ``features``
#: fixed features of each training point (:class:`_Head`).
NET_OPTIONS: dict[str, dict[str, Any]] = {
    "small_cnn": {"width": 32, "hidden": 256, "per_point": 0, "rank": 0, "features": 0},
    "small_unet": {"width": 16, "hidden": 256, "per_point": 0, "rank": 0, "features": 0},
    "resnet50": {"per_point": 0},
}
#: Largest value of each size option, of the image shape and of the whole net: a config or a file that asks for
#: more is rejected before anything is built (a 1 MB file must not make the loader allocate gigabytes).
OPTION_LIMITS: dict[str, int] = {"width": 1024, "hidden": 65536, "per_point": 1, "rank": 1024, "features": 4096}
MAX_CHANNELS, MAX_SIDE = 64, 4096
MAX_PARAMETERS = 2**28  # 1 GiB of float32 weights


class _Head(nn.Module):
    """Adaptive average pool to 4x4, then an MLP to values ``[B, n_out, m]`` (the last layer zero-initialised).

    Free head (``rank`` 0, the paper's): a linear layer ``hidden -> n_out * m``, one free weight vector per training
    point and label. Two-tower head (``rank`` r > 0): phi(x)_{i, y} = <g(x)_y, W p_i>, with g(x) ``[m, r]`` from the
    image and p_i the fixed ``features``-dimensional description of training point i (the buffer ``points
    [n_out, features]``, set from the service model's embeddings by :func:`set_points`), so points with similar
    features get similar values and every coalition informs them all. ``per_point`` divides by n_out.
    """

    def __init__(self, channels: int, hidden: int, n_out: int, m: int, per_point: int = 0, rank: int = 0,
                 features: int = 0) -> None:
        super().__init__()
        self.n_out, self.m, self.rank = n_out, m, rank
        self.scale = 1.0 / n_out if per_point else 1.0
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.fc1 = nn.Linear(channels * 16, hidden)
        if rank:
            if features < 1:
                raise ValueError("a two-tower explainer head (rank > 0) needs features >= 1")
            self.fc2 = nn.Linear(hidden, m * rank)
            self.register_buffer("points", torch.zeros(n_out, features))
            self.tower = nn.Linear(features, rank)
        else:
            self.fc2 = nn.Linear(hidden, n_out * m)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc1(self.pool(h).flatten(1)))
        if self.rank:
            out = torch.einsum("bmr,nr->bnm", self.fc2(h).view(len(h), self.m, self.rank), self.tower(self.points))
        else:
            out = self.fc2(h).view(len(h), self.n_out, self.m)
        return out * self.scale if self.scale != 1.0 else out


class SmallCNN(nn.Module):
    """conv(C->w) -> ReLU -> maxpool 2 -> conv(w->2w) -> ReLU -> head: ``[B, C, H, W]`` -> ``[B, n_out, m]``."""

    def __init__(self, in_channels: int, n_out: int, m: int, width: int = 32, hidden: int = 256, per_point: int = 0,
                 rank: int = 0, features: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
        )
        self.head = _Head(2 * width, hidden, n_out, m, per_point, rank, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU())


class SmallUNet(nn.Module):
    """Two-level UNet (widths w, 2w, 4w) with skip connections, then the pooled MLP head on the w-channel map."""

    def __init__(self, in_channels: int, n_out: int, m: int, width: int = 16, hidden: int = 256, per_point: int = 0,
                 rank: int = 0, features: int = 0) -> None:
        super().__init__()
        w = width
        self.enc1, self.enc2, self.mid = _block(in_channels, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.up2, self.dec2 = nn.Conv2d(4 * w, 2 * w, 1), _block(4 * w, 2 * w)
        self.up1, self.dec1 = nn.Conv2d(2 * w, w, 1), _block(2 * w, w)
        self.head = _Head(w, hidden, n_out, m, per_point, rank, features)

    @staticmethod
    def _up(h: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.interpolate(h, size=like.shape[-2:], mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2, ceil_mode=True))
        h = self.mid(F.max_pool2d(e2, 2, ceil_mode=True))
        h = self.dec2(torch.cat([self._up(self.up2(h), e2), e2], 1))
        h = self.dec1(torch.cat([self._up(self.up1(h), e1), e1], 1))
        return self.head(h)


class ResNet50Explainer(nn.Module):
    """torchvision ResNet-50: new first conv (C channels, 3x3, stride 1), no stem max-pool, new linear head.

    ``pretrained``: a local file holding a torchvision ``resnet50`` state dict (or ``{"state_dict": ...}``),
    loaded before the first conv and the head are replaced. Missing file -> ``FileNotFoundError`` naming it.
    """

    def __init__(self, in_channels: int, n_out: int, m: int, pretrained: str | os.PathLike | None = None,
                 per_point: int = 0) -> None:
        super().__init__()
        from torchvision.models import resnet50

        self.n_out, self.m = n_out, m
        self.scale = 1.0 / n_out if per_point else 1.0
        net = resnet50(weights=None)
        if pretrained:
            state = _read_resnet_weights(pretrained)
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise ValueError(f"explainer pretrained weights file {pretrained} is not a ResNet-50 state dict: {exc}") from exc
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Linear(net.fc.in_features, n_out * m)
        nn.init.zeros_(net.fc.weight)
        nn.init.zeros_(net.fc.bias)
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x).view(len(x), self.n_out, self.m)
        return out * self.scale if self.scale != 1.0 else out


def _read_resnet_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"explainer pretrained ResNet-50 weights file {path} does not exist (weights are never downloaded; "
            "save torchvision's resnet50 state dict there, or set pretrained to null)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"explainer pretrained weights file {path} is not a ResNet-50 state dict: {exc}") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"explainer pretrained weights file {path} is not a ResNet-50 state dict (it holds a {type(state).__name__})")
    return state


def net_config(name: str, in_shape: tuple[int, int, int], n_out: int, m: int, **options: Any) -> dict[str, Any]:
    """A validated, JSON-able description of an explainer net (what :func:`build_net` needs to rebuild it)."""
    if name not in NETS:
        raise ValueError(f"unknown explainer net {name!r}; choose one of {', '.join(NETS)}")
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"explainer in_shape must be (C, H, W) with positive sizes, got {in_shape}")
    if int(n_out) < 1 or int(m) < 1:
        raise ValueError(f"explainer n_out and m must be >= 1, got n_out={n_out}, m={m}")
    unknown = sorted(set(options) - set(NET_OPTIONS[name]))
    if unknown:
        raise ValueError(f"unknown options {unknown} for explainer net {name!r}; it takes {sorted(NET_OPTIONS[name]) or 'none'}")
    opts = {**NET_OPTIONS[name], **{k: int(v) for k, v in options.items()}}
    if any(v < (0 if k in ("per_point", "rank", "features") else 1) for k, v in opts.items()):
        raise ValueError(f"explainer net options must be positive integers (per_point, rank, features: >= 0), got {opts}")
    if opts.get("rank") and not opts.get("features"):
        raise ValueError(f"explainer net option rank = {opts['rank']} (a two-tower head) needs features >= 1")
    for key, value in opts.items():
        if value > OPTION_LIMITS[key]:
            raise ValueError(f"explainer net option {key} = {value} exceeds its limit {OPTION_LIMITS[key]}")
    if shape[0] > MAX_CHANNELS or max(shape[1:]) > MAX_SIDE:
        raise ValueError(f"explainer in_shape {list(shape)} exceeds the limits: at most {MAX_CHANNELS} channels "
                         f"of {MAX_SIDE}x{MAX_SIDE} pixels")
    config = {"name": name, "in_shape": list(shape), "n_out": int(n_out), "m": int(m), "options": opts}
    size = parameter_count(lambda: _make(config))
    if size > MAX_PARAMETERS:
        raise ValueError(f"explainer net {name} with n_out = {n_out}, m = {m} and options {opts} would have {size:,} "
                         f"parameters, more than the limit {MAX_PARAMETERS:,}")
    return config


def build_net(config: dict[str, Any], pretrained: str | os.PathLike | None = None) -> nn.Module:
    """The explainer net described by ``config`` (from :func:`net_config`); ``pretrained`` only for resnet50."""
    config = net_config(config["name"], config["in_shape"], config["n_out"], config["m"], **config.get("options", {}))
    if pretrained and config["name"] != "resnet50":
        raise ValueError(f"pretrained weights ({pretrained}) only apply to the resnet50 explainer, not {config['name']!r}")
    return _make(config, pretrained)


def _make(config: dict[str, Any], pretrained: str | os.PathLike | None = None) -> nn.Module:
    """The net of a checked ``config`` (on the default device: the meta device builds it without memory)."""
    name, c, n_out, m, opts = config["name"], config["in_shape"][0], config["n_out"], config["m"], config["options"]
    if name == "small_cnn":
        return SmallCNN(c, n_out, m, **opts)
    if name == "small_unet":
        return SmallUNet(c, n_out, m, **opts)
    return ResNet50Explainer(c, n_out, m, pretrained, **opts)


def set_points(net: nn.Module, points: torch.Tensor) -> None:
    """Fill a two-tower head's training-point features ``points [n_out, features]`` (standardised by the caller)."""
    head = getattr(net, "head", None)
    if head is None or not getattr(head, "rank", 0):
        raise ValueError("this explainer net has no two-tower head (net option rank = 0)")
    if tuple(points.shape) != tuple(head.points.shape):
        raise ValueError(f"points must have shape {list(head.points.shape)}, got {list(points.shape)}")
    with torch.no_grad():
        head.points.copy_(points)
