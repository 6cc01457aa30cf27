"""The stacked network: K copies of a sequential service model run as one, parameters stacked along K.

Activation layouts (the ``state`` of a :class:`_Flow`):

* :data:`GRID` ``[B, K*C, H, W]`` channels-last (grouped convolutions, K groups);
* :data:`TOKENS` ``[K, B, H*W, C]`` (the output of the fused first stage on per-model minibatches);
* :data:`SHARED` the raw input shared by all K models (probes without a fused stage);
* :data:`FLAT` ``[K, B, F]`` in torch's (C, H, W) feature order (batched matrix products);
* :data:`FLAT_HWC` ``[K, B, F]`` in (H, W, C) order, so the next linear layer permutes its weight instead of
  the activations being permuted.

Each layer kind is one function (:data:`_LAYERS`) and each layout change one named transition, so
:meth:`_Stacked.forward` is a loop over the layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Fuse the first conv stage in training when its patches are at most this many times the input size.
FUSE_MAX_EXPANSION = 8

GRID, TOKENS, SHARED, FLAT, FLAT_HWC = "grid", "tokens", "shared", "flat", "flat_hwc"

#: One op of the stacked network: (kind, torch module, parameter-name prefix).
Op = tuple[str, Any, str]


@dataclass
class _Flow:
    """An activation ``h`` on its way through K stacked models on B samples each, and its layout ``state``.

    ``hw`` is the fused stage's pooled grid ``(Hp, Wp)``; ``channels`` the channel count behind a
    :data:`FLAT_HWC` layout; ``source`` the caller's input, which ReLU never overwrites in place.
    """

    h: torch.Tensor
    state: str
    k: int
    b: int
    inplace: bool
    source: torch.Tensor
    hw: tuple[int, int] = (0, 0)
    channels: int = 0


# ---------------------------------------------------------------------------------------------------
# layout transitions


def _models_to_grid(xb: torch.Tensor, k: int, b: int) -> torch.Tensor:
    """Per-model minibatches ``[K, B, C, H, W]`` -> channels-last grid ``[B, K*C, H, W]``."""
    _, _, c, h, w = xb.shape
    return xb.permute(1, 3, 4, 0, 2).reshape(b, h, w, k * c).permute(0, 3, 1, 2)


def _tokens_to_grid(f: _Flow) -> None:
    """:data:`TOKENS` ``[K, B, Hp*Wp, C]`` -> :data:`GRID` ``[B, K*C, Hp, Wp]`` (channels-last)."""
    f.h = f.h.permute(1, 2, 0, 3).reshape(f.b, f.hw[0], f.hw[1], -1).permute(0, 3, 1, 2)
    f.state = GRID


def _tokens_to_flat_hwc(f: _Flow) -> None:
    """:data:`TOKENS` ``[K, B, H*W, C]`` -> :data:`FLAT_HWC` ``[K, B, H*W*C]``."""
    f.channels = f.h.shape[3]
    f.h, f.state = f.h.reshape(f.k, f.b, -1), FLAT_HWC


def _grid_to_flat_hwc(f: _Flow) -> None:
    """:data:`GRID` (physical ``[B, H, W, K, C]``) -> :data:`FLAT_HWC` ``[K, B, H*W*C]``."""
    f.channels = f.h.shape[1] // f.k
    f.h = f.h.permute(0, 2, 3, 1).reshape(f.b, -1, f.k, f.channels).permute(2, 0, 1, 3).reshape(f.k, f.b, -1)
    f.state = FLAT_HWC


def _hwc_weight(w: torch.Tensor, channels: int) -> torch.Tensor:
    """Linear weight ``[K, O, F]`` with torch's (C, H, W) columns reordered to (H, W, C)."""
    return w.reshape(w.shape[0], w.shape[1], channels, -1).transpose(2, 3).reshape(w.shape[0], w.shape[1], -1)


def _shared_linear(h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, head: bool) -> torch.Tensor:
    """Shared input ``[B, F]`` @ ``[K, F, O]`` -> ``[K, B, O]`` (``[K, O, B]`` if ``head``)."""
    h = torch.matmul(h, w.transpose(1, 2))
    h = h + bias[:, None, :] if bias is not None else h
    return h.transpose(1, 2) if head else h


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward makes the incoming gradient contiguous (a copy: the values are unchanged).

    The head's input gradient comes out of a batched product transposed (``[K, F, B]`` memory read as
    ``[K, B, F]``); elementwise backward ops (ReLU's) on such strided tensors are several times slower than
    one copy followed by contiguous ones.
    """

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return h.view_as(h)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.contiguous()


def _stacked_linear(h: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, head: bool) -> torch.Tensor:
    """``[K, B, F]`` -> ``[K, B, O]``, or with ``head`` ``[K, O, F] @ [K, F, B]`` -> ``[K, O, B]``."""
    if head:
        hT = (_ContiguousGrad.apply(h) if h.requires_grad else h).transpose(1, 2)
        return torch.baddbmm(bias[:, :, None], w, hT) if bias is not None else torch.bmm(w, hT)
    if bias is not None:
        return torch.baddbmm(bias[:, None, :], h, w.transpose(1, 2))
    return torch.bmm(h, w.transpose(1, 2))


# ---------------------------------------------------------------------------------------------------
# the fused first stage (conv, optionally + maxpool) as one patch product per model


def _fused_shared(xb: torch.Tensor, wk: torch.Tensor, bias: torch.Tensor | None, k: int, f: _Flow) -> torch.Tensor:
    """Shared patches ``[B, kk, pos, ckk]`` @ ``[ckk, K*O]``, max over kk -> :data:`GRID` ``[B, K*O, Hp, Wp]``."""
    o = wk.shape[2]
    h = torch.matmul(xb, wk.transpose(0, 1).reshape(wk.shape[1], f.k * o))
    h = h.amax(1) if k > 1 else h.squeeze(1)
    if bias is not None:
        h = h.add_(bias.reshape(-1)) if f.inplace else h + bias.reshape(-1)
    return h.reshape(f.b, f.hw[0], f.hw[1], f.k * o).permute(0, 3, 1, 2)


def _fused_tokens(xb: torch.Tensor, wk: torch.Tensor, bias: torch.Tensor | None, k: int, f: _Flow) -> torch.Tensor:
    """Per-model patches ``[K, B*kk*pos, ckk]`` @ ``[K, ckk, O]``, max over kk -> :data:`TOKENS` ``[K, B, pos, O]``."""
    o = wk.shape[2]
    cols = xb.reshape(f.k, -1, xb.shape[-1])
    z = torch.baddbmm(bias[:, None, :], cols, wk) if bias is not None else torch.bmm(cols, wk)
    return z.reshape(f.k, f.b, k * k, -1, o).amax(2) if k > 1 else z.reshape(f.k, f.b, -1, o)


# ---------------------------------------------------------------------------------------------------
# one function per layer kind: (flow, module, weight, bias, head) -> None, updating the flow


def _conv(f: _Flow, m: nn.Conv2d, w: torch.Tensor, bias: torch.Tensor | None, head: bool) -> None:
    """Grouped convolution (K groups; one group on the shared input) -> :data:`GRID`."""
    wk = w.reshape(f.k * w.shape[1], *w.shape[2:]).contiguous(memory_format=torch.channels_last)
    b = bias.reshape(-1) if bias is not None else None
    f.h = F.conv2d(f.h, wk, b, m.stride, m.padding, m.dilation, 1 if f.state == SHARED else f.k)
    f.state = GRID


def _pool(f: _Flow, m: nn.MaxPool2d, w: None, bias: None, head: bool) -> None:
    f.h = F.max_pool2d(f.h, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)


def _relu(f: _Flow, m: nn.ReLU, w: None, bias: None, head: bool) -> None:
    f.h = F.relu(f.h, inplace=f.inplace and f.h is not f.source)


def _flatten(f: _Flow, m: nn.Flatten, w: None, bias: None, head: bool) -> None:
    """Shared ``[B, ...]`` -> ``[B, F]``; tokens or grid -> :data:`FLAT_HWC`; :data:`FLAT` stays as it is."""
    if f.state == SHARED:
        f.h = f.h.reshape(f.b, -1)
    elif f.state == TOKENS:
        _tokens_to_flat_hwc(f)
    elif f.state == GRID:
        _grid_to_flat_hwc(f)


def _linear(f: _Flow, m: nn.Linear, w: torch.Tensor, bias: torch.Tensor | None, head: bool) -> None:
    """Batched matrix product -> :data:`FLAT`; ``head`` (last layer, classes first) gives ``[K, O, B]``."""
    if f.state == FLAT_HWC:
        w = _hwc_weight(w, f.channels)
    f.h = _shared_linear(f.h, w, bias, head) if f.state == SHARED else _stacked_linear(f.h, w, bias, head)
    f.state = FLAT


_LAYERS: dict[str, Callable[..., None]] = {
    "conv": _conv, "pool": _pool, "relu": _relu, "flatten": _flatten, "linear": _linear,
}


# ---------------------------------------------------------------------------------------------------
# building the op list


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _layer_ops(net: nn.Sequential) -> list[Op]:
    """The ops of ``net``; a ReLU followed by a MaxPool becomes pool, relu (the same outputs, less work)."""
    ops: list[Op] = []
    mods = list(net.named_children())
    i = 0
    while i < len(mods):
        name, m = mods[i]
        if isinstance(m, nn.Conv2d):
            if m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
                raise ValueError(f"layer {name} ({m}) is not supported by the fused stacked path")
            ops.append(("conv", m, name))
        elif isinstance(m, nn.Linear):
            ops.append(("linear", m, name))
        elif isinstance(m, nn.ReLU):
            if i + 1 < len(mods) and isinstance(mods[i + 1][1], nn.MaxPool2d):
                # relu is monotone, so maxpool(relu(a)) == relu(maxpool(a)); pooling first is cheaper
                ops.append(("pool", mods[i + 1][1], mods[i + 1][0]))
                i += 1
            ops.append(("relu", m, name))
        elif isinstance(m, nn.MaxPool2d):
            ops.append(("pool", m, name))
        elif isinstance(m, nn.Flatten):
            ops.append(("flatten", m, name))
        else:
            raise ValueError(f"layer {name} ({type(m).__name__}) is not supported by the fused stacked path")
        i += 1
    if not ops or ops[-1][0] != "linear" or "flatten" not in [o[0] for o in ops]:
        raise ValueError("the fused stacked path needs a Flatten layer and a last Linear layer")
    return ops


def _fusable_stage(ops: list[Op], in_shape: tuple[int, int, int]) -> tuple[int, int, tuple[int, int]]:
    """For ops starting with a conv: (ops fused: 1 or 2 with a following maxpool, pool size k, pooled ``(Hp, Wp)``)."""
    conv = ops[0][1]
    ho, wo = conv(torch.zeros(1, *in_shape)).shape[2:]
    k, n_fused = 1, 1
    if len(ops) >= 2 and ops[1][0] == "pool":
        pool = ops[1][1]
        kp, sp = _pair(pool.kernel_size), _pair(pool.stride or pool.kernel_size)
        plain = _pair(pool.padding) == (0, 0) and _pair(pool.dilation) == (1, 1) and not pool.ceil_mode
        if kp == sp and kp[0] == kp[1] and plain and ho >= kp[0] and wo >= kp[0]:
            k, n_fused = kp[0], 2
    return n_fused, k, (ho // k, wo // k)


# ---------------------------------------------------------------------------------------------------
# the stacked network


class _Stacked:
    """K copies of a sequential service model whose parameters are stacked along a leading K axis.

    When the model starts with a conv, optionally followed by maxpool (kernel == stride), that stage can be
    fused: the inputs are unfolded once into patches grouped by pooling offset, ``[N, k*k, Hp*Wp, C*kh*kw]``,
    the convolution is one matrix product per model and the pooling a max over the offset axis. Probes
    always take the fused stage; training minibatches only if ``fuse_train`` (small patches).
    """

    path = "fused"

    def __init__(self, net: nn.Sequential, in_shape: tuple[int, int, int]) -> None:
        self.all_ops = _layer_ops(net)
        self.ops = list(self.all_ops)
        # fuse a leading conv (and a following maxpool with kernel == stride) into one patch product
        self.fused: tuple[nn.Conv2d, str, int, tuple[int, int]] | None = None
        self.fuse_train = False
        if self.ops[0][0] == "conv":
            conv, name = self.ops[0][1], self.ops[0][2]
            n_fused, k, (hp, wp) = _fusable_stage(self.ops, in_shape)
            self.fused = (conv, name, k, (hp, wp))
            self.ops = self.ops[n_fused:]
            patch = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] * hp * wp * k * k
            self.fuse_train = patch <= FUSE_MAX_EXPANSION * int(np.prod(in_shape))

    def prepare(self, x: torch.Tensor, training: bool = False) -> torch.Tensor:
        """Per-sample inputs of the first stage: patches ``[N, k*k, Hp*Wp, C*kh*kw]`` if fused, else ``x``.

        Probes always use the fused stage when there is one (their convolution is shared by all models);
        training minibatches only when the patches are small (:data:`FUSE_MAX_EXPANSION`), else grouped
        convolutions on the raw inputs cost less memory traffic.
        """
        if self.fused is None or (training and not self.fuse_train):
            return x
        conv, _, k, (hp, wp) = self.fused
        cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # [N, ckk, Ho*Wo]
        ho = (x.shape[2] + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1) // conv.stride[0] + 1
        wo = cols.shape[2] // ho
        if k == 1:
            return cols.transpose(1, 2).reshape(len(x), 1, ho * wo, -1).contiguous()
        cols = cols.reshape(len(x), -1, ho, wo)[:, :, : hp * k, : wp * k].reshape(len(x), -1, hp, k, wp, k)
        return cols.permute(0, 3, 5, 2, 4, 1).reshape(len(x), k * k, hp * wp, -1).contiguous()

    def _enter(self, p: dict[str, torch.Tensor], xb: torch.Tensor, f: _Flow, shared: bool) -> list[Op]:
        """Put the first stage's output into ``f`` (fused stage, shared input, flat or grid); return the ops left."""
        if self.fused is not None and (shared or self.fuse_train):
            conv, name, k, f.hw = self.fused
            w = p[f"{name}.weight"]
            wk = w.reshape(f.k, w.shape[1], -1).transpose(1, 2)  # [K, ckk, O]
            bias = p[f"{name}.bias"] if conv.bias is not None else None
            if shared:
                f.h, f.state = _fused_shared(xb, wk, bias, k, f), GRID
            else:
                f.h, f.state = _fused_tokens(xb, wk, bias, k, f), TOKENS
            return self.ops
        if shared:
            f.h, f.state = (xb.contiguous(memory_format=torch.channels_last) if xb.dim() == 4 else xb), SHARED
            return self.ops
        if self.all_ops[0][0] == "flatten":
            f.h, f.state = xb.reshape(f.k, f.b, -1), FLAT
        else:
            f.h, f.state = _models_to_grid(xb, f.k, f.b), GRID
        return self.all_ops

    def forward(
        self, p: dict[str, torch.Tensor], xb: torch.Tensor, shared: bool = False, classes_first: bool = False
    ) -> torch.Tensor:
        """Logits ``[K, B, m]``, or ``[K, m, B]`` with ``classes_first`` (the layout softmax over m is fastest in).

        ``p`` holds the stacked parameters ``[K, *shape]``; ``xb`` is the :meth:`prepare`-d input: ``[K, B, ...]``
        (one minibatch per model), or ``[B, ...]`` with ``shared=True`` (the same inputs for every model, e.g.
        probe points).
        """
        k = next(iter(p.values())).shape[0]
        f = _Flow(xb, SHARED, k, xb.shape[0] if shared else xb.shape[1], not torch.is_grad_enabled(), xb)
        ops = self._enter(p, xb, f, shared)
        last = len(ops) - 1
        for i, (kind, m, name) in enumerate(ops):
            if f.state == TOKENS and kind in ("conv", "pool"):
                _tokens_to_grid(f)
            _LAYERS[kind](f, m, p.get(f"{name}.weight"), p.get(f"{name}.bias"), i == last and classes_first)
        return f.h

    @staticmethod
    def act_floats(net: nn.Sequential, in_shape: tuple[int, int, int]) -> int:
        """Floats of all activations of one sample through ``net`` (for memory budgeting)."""
        total = 0
        h = torch.zeros(1, *in_shape)
        with torch.no_grad():
            for m in net:
                h = m(h)
                total += h.numel()
        return total + int(np.prod(in_shape))
