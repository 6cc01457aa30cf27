"""The generic stacked network: K copies of any service model run as one through ``torch.func``.

The hand-fused :class:`~.stacked._Stacked` knows one layer set
(:data:`~fastdatashapley.engine.models.SUPPORTED_LAYERS` in a plain ``nn.Sequential``). Any other model
(LayerNorm, residual blocks, custom modules) runs here: ``torch.func.vmap`` over ``torch.func.functional_call``
of the one model, on parameters stacked along a leading K axis. :class:`_Generic` has the interface of
``_Stacked`` (``prepare``, ``forward``, ``act_floats``), so the minibatch plan, the padding weights, the optimiser,
the data order and the utilities are the engine's same code on both paths.

What the engine assumes of a model (:func:`check_generic` refuses the rest, naming the layer): a sample's output
depends only on that sample and the parameters (padding rows and probe blocks must not change anything), the
model is its parameters (no buffers, no tied or frozen parameters, each one reached by the output), and training
draws no random numbers (common random numbers). So BatchNorm (running statistics, minibatch statistics) and
dropout are refused; LayerNorm, GroupNorm and InstanceNorm without running statistics are fine.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

#: Layers whose output depends on the other samples of a minibatch.
BATCH_STATISTICS = (nn.modules.batchnorm._BatchNorm,)
#: Layers that draw random numbers in training.
RANDOM_LAYERS = (nn.modules.dropout._DropoutNd,)


def _functional(net: nn.Module) -> Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]:
    """``(params, x) -> net(x)`` with ``params`` (name -> tensor) in place of the model's own."""

    def call(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(net, p, (x,))

    return call


def _layer(name: str, m: nn.Module) -> str:
    return f"layer {name!r} ({type(m).__name__})" if name else f"the model ({type(m).__name__})"


def _check_layers(net: nn.Module) -> None:
    """Refuse batch-statistics layers, random layers and buffers, naming the first layer at fault."""
    for name, m in net.named_modules():
        if isinstance(m, BATCH_STATISTICS):
            raise ValueError(f"{_layer(name, m)} normalises by minibatch statistics, so a sample's output depends on "
                             "its minibatch: the batched engine cannot train it (use LayerNorm or GroupNorm)")
        if isinstance(m, RANDOM_LAYERS):
            raise ValueError(f"{_layer(name, m)} draws random numbers in training, which the engine's common random "
                             "numbers exclude: remove it")
        buffers = [b for b, _ in m.named_buffers(recurse=False)]
        if buffers:
            raise ValueError(f"{_layer(name, m)} holds buffers {buffers}: the batched engine trains models made of "
                             "parameters only")


def _check_parameters(net: nn.Module) -> dict[str, nn.Parameter]:
    """The model's parameters by name; refuse none, tied (one tensor under several names) or frozen ones."""
    params = dict(net.named_parameters())
    if not params:
        raise ValueError("the service model has no parameters to train")
    tied = sorted(set(net.state_dict()) - set(params))
    if tied:
        raise ValueError(f"parameters {tied} are tied to other parameters (one tensor under several names): the "
                         "batched engine trains every name on its own, so it refuses tied weights")
    frozen = [k for k, v in params.items() if not v.requires_grad]
    if frozen:
        raise ValueError(f"parameters {frozen} have requires_grad=False: the batched engine trains every parameter")
    return params


def _check_trial(net: nn.Module, in_shape: tuple[int, int, int], n_classes: int,
                 params: dict[str, nn.Parameter]) -> None:
    """One vmapped forward (train and eval mode) and backward of one stacked copy on two images: it must run under
    vmap, give logits ``[B, n_classes]`` and reach every parameter."""
    p = {k: v.detach()[None].clone().requires_grad_() for k, v in params.items()}
    x = torch.full((1, 2, *in_shape), 0.5)
    call = _functional(net)
    try:
        net.train()
        out = vmap(call)(p, x)
        net.eval()
        with torch.no_grad():
            vmap(call, in_dims=(0, None))(p, x[0])
    except Exception as exc:
        raise ValueError(f"the service model cannot run under torch.func.vmap ({type(exc).__name__}: {exc})") from exc
    finally:
        net.train()
    if tuple(out.shape) != (1, 2, n_classes):
        raise ValueError(f"the service model maps inputs [2, {', '.join(map(str, in_shape))}] to outputs "
                         f"{list(out.shape[1:])}, not logits [2, {n_classes}]")
    grads = torch.autograd.grad(out.sum(), list(p.values()), allow_unused=True)
    unused = [k for k, g in zip(p, grads) if g is None]
    if unused:
        raise ValueError(f"parameters {unused} get no gradient from the model's output: the batched engine "
                         "trains every parameter (remove them)")


def check_generic(net: nn.Module, in_shape: tuple[int, int, int], n_classes: int) -> None:
    """Raise ValueError, naming the layer or parameter at fault, unless the generic path can train ``net`` on
    inputs ``(C, H, W) = in_shape`` with ``n_classes`` logits (module docstring)."""
    _check_layers(net)
    params = _check_parameters(net)
    _check_trial(net, in_shape, n_classes, params)


class _Generic:
    """K copies of any service model whose parameters are stacked along a leading K axis, run by ``torch.vmap``.

    Training inputs are per-model minibatches ``[K, B, C, H, W]`` (train mode, as :func:`~.reference.train_single`
    trains); shared inputs ``[B, C, H, W]`` are probes, read in eval mode (as :func:`~.reference.predict_proba`).
    """

    path = "generic"

    def __init__(self, net: nn.Module, in_shape: tuple[int, int, int], n_classes: int) -> None:
        check_generic(net, in_shape, n_classes)
        self.net = net
        call = _functional(net)
        self._own = vmap(call)
        self._shared = vmap(call, in_dims=(0, None))

    def prepare(self, x: torch.Tensor, training: bool = False) -> torch.Tensor:
        """Inputs as they are (nothing is precomputed on this path)."""
        return x

    def forward(
        self, p: dict[str, torch.Tensor], xb: torch.Tensor, shared: bool = False, classes_first: bool = False
    ) -> torch.Tensor:
        """Logits ``[K, B, m]``, or ``[K, m, B]`` with ``classes_first``, of the stacked parameters ``p [K, *shape]``
        on per-model minibatches ``xb [K, B, C, H, W]``, or on probes ``xb [B, C, H, W]`` with ``shared=True``."""
        self.net.train(not shared)
        logits = (self._shared if shared else self._own)(p, xb)
        return logits.transpose(1, 2) if classes_first else logits

    @staticmethod
    def act_floats(net: nn.Module, in_shape: tuple[int, int, int]) -> int:
        """Floats of one sample's activations (for memory budgeting): the input, every leaf module's output, and as
        many again for the functional operations of ``forward`` that no module hook sees."""
        total = [0]

        def count(module: nn.Module, args: object, out: object) -> None:
            total[0] += sum(t.numel() for t in (out if isinstance(out, (tuple, list)) else [out])
                            if isinstance(t, torch.Tensor))

        leaves = [m for m in net.modules() if not list(m.children())]
        hooks = [m.register_forward_hook(count) for m in leaves]
        try:
            with torch.no_grad():
                net(torch.zeros(1, *in_shape))
        finally:
            for h in hooks:
                h.remove()
        return 2 * total[0] + int(torch.Size(in_shape).numel())
