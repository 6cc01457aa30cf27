"""Which stacked network trains a model: the hand-fused one (:mod:`.stacked`) when it supports the model, else
the generic ``torch.func`` one (:mod:`.generic`).

The fused path takes a plain ``nn.Sequential`` of :data:`~fastdatashapley.engine.models.SUPPORTED_LAYERS` in the
forms it stacks (ungrouped zero-padded convolutions, a Flatten, a last Linear layer); every built-in arch is one.
Any other model takes the generic path. ``"auto"`` chooses so; ``"fused"`` or ``"generic"`` forces a path (the
benchmark compares them on one model).
"""

from __future__ import annotations

import logging

from torch import nn

from .generic import _Generic
from .spec import TrainerSpec
from .stacked import _Stacked

FUSED, GENERIC, AUTO = "fused", "generic", "auto"
#: The engine's paths; ``engine_path`` arguments also take ``"auto"``.
ENGINE_PATHS = (FUSED, GENERIC)

log = logging.getLogger(__name__)


def _fused_or_reason(net: nn.Module, in_shape: tuple[int, int, int]) -> _Stacked | str:
    """The fused stacked network of ``net``, or why the fused path cannot run it."""
    if not isinstance(net, nn.Sequential) or type(net).forward is not nn.Sequential.forward:
        return f"{type(net).__name__} is not a plain nn.Sequential"
    try:
        return _Stacked(net, in_shape)
    except ValueError as exc:
        return str(exc)


def stack_network(spec: TrainerSpec, net: nn.Module, engine_path: str = AUTO) -> _Stacked | _Generic:
    """The stacked network that trains K copies of ``net`` (an instance of ``spec.arch``) on the path
    ``engine_path`` (``"auto"``, ``"fused"`` or ``"generic"``); ValueError naming the arch when it cannot."""
    if engine_path not in (AUTO, *ENGINE_PATHS):
        raise ValueError(f"engine_path {engine_path!r} is unknown; choose one of {AUTO}, {', '.join(ENGINE_PATHS)}")
    fused = _fused_or_reason(net, spec.in_shape) if engine_path != GENERIC else "the generic path was asked for"
    if isinstance(fused, _Stacked):
        log.debug("service-model arch %r trains on the fused stacked path", spec.arch)
        return fused
    if engine_path == FUSED:
        raise ValueError(f"service-model arch {spec.arch!r} cannot take the fused engine path: {fused}")
    try:
        generic = _Generic(net, spec.in_shape, spec.n_classes)
    except ValueError as exc:
        raise ValueError(f"service-model arch {spec.arch!r} cannot be trained by the batched engine: {exc}") from None
    log.info("service-model arch %r trains on the generic torch.func path (%s)", spec.arch, fused)
    return generic


def engine_path(spec: TrainerSpec) -> str:
    """The path ``"auto"`` picks for ``spec.arch``: ``"fused"`` or ``"generic"`` (ValueError if neither can train it)."""
    return stack_network(spec, spec.build()).path
