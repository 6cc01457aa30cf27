"""Service-model builders and the arch registry :data:`ARCHS` (config key ``service.arch``).

A service model maps float32 images ``[B, C, H, W]`` to logits ``[B, m]``. The built-in archs are plain
``nn.Sequential`` stacks of :data:`SUPPORTED_LAYERS`, which the retraining engine's hand-fused stacked path
(:mod:`fastdatashapley.engine.training.stacked`) runs side by side. A plugin may register any ``nn.Module``
factory with :func:`register`; a model outside the fused layer set trains through the generic ``torch.func``
path (:mod:`fastdatashapley.engine.training.generic`), chosen automatically.

Importing this module does not import torch (the workflow reads :data:`ARCHS` when it starts): the builders
import it when they run, and :data:`SUPPORTED_LAYERS` is made on first access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..base.registry import Registry

if TYPE_CHECKING:
    from torch import nn

#: ``build(in_shape, n_classes) -> nn.Module``: a fresh model for inputs ``(C, H, W)`` and ``n_classes`` logits.
Build = Callable[[tuple[int, int, int], int], "nn.Module"]


def __getattr__(name: str) -> Any:
    """``SUPPORTED_LAYERS``: the layer types the hand-fused stacked path stacks (in a plain ``nn.Sequential``)."""
    if name == "SUPPORTED_LAYERS":
        from torch import nn

        return (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Arch:
    """A registered service-model architecture: its config name and its builder."""

    name: str
    build: Build
    description: str = ""


#: Every service-model arch (config key ``service.arch``), in registration order.
ARCHS: Registry[Arch] = Registry("service-model arch")


def register(name: str, build: Build, description: str = "") -> Arch:
    """Register ``build(in_shape, n_classes) -> nn.Module`` as the service-model arch ``name``.

    The model must map float32 ``[B, C, H, W]`` to logits ``[B, n_classes]``. A bad or taken name is a
    ValueError. Returns the registry entry.
    """
    if not callable(build):
        raise TypeError(f"service-model arch {name!r}: build must be callable, got {type(build).__name__}")
    return ARCHS.register(Arch(name, build, description))


def _conv_out(size: int, kernel: int, pad: int = 0) -> int:
    return size + 2 * pad - kernel + 1


def _paper_cnn(in_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """conv(C->16, 5x5, pad 2), ReLU, maxpool 2, conv(16->32, 5x5), ReLU, maxpool 2, linear -> m (authors' code)."""
    from torch import nn

    c, h, w = in_shape
    h1, w1 = _conv_out(h, 5, 2) // 2, _conv_out(w, 5, 2) // 2
    h2, w2 = _conv_out(h1, 5) // 2, _conv_out(w1, 5) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"in_shape {in_shape} is too small for arch 'paper_cnn' (needs H, W >= 12)")
    return nn.Sequential(
        nn.Conv2d(c, 16, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * h2 * w2, n_classes),
    )


def _digits_cnn(in_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """conv(C->16, 4x4, stride 2), ReLU, linear -> m: sized for 8x8 digits (1,722 weights for 1x8x8).

    On scikit-learn digits with 10 images per class (Adam, lr 1e-3, batch 20, 50 epochs) it reaches about
    88 % test accuracy, as good as conv 3x3 + maxpool variants, with a quarter of their activations, which
    makes it the cheapest CNN to retrain thousands of times.
    """
    from torch import nn

    c, h, w = in_shape
    ho, wo = (h - 4) // 2 + 1, (w - 4) // 2 + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"in_shape {in_shape} is too small for arch 'digits_cnn' (needs H, W >= 4)")
    return nn.Sequential(
        nn.Conv2d(c, 16, 4, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * ho * wo, n_classes),
    )


def _digits_mlp(in_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """flatten, linear -> 64, ReLU, linear -> m."""
    from torch import nn

    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 64), nn.ReLU(), nn.Linear(64, n_classes))


register("paper_cnn", _paper_cnn, "the paper's CNN (authors' code)")
register("digits_cnn", _digits_cnn, "one conv layer sized for 8x8 digits")
register("digits_mlp", _digits_mlp, "flatten, linear 64, ReLU, linear")


def build_service_model(arch: str, in_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    """Build the registered service-model arch ``arch`` for inputs ``in_shape = (C, H, W)`` and ``n_classes`` labels.

    Weights come from PyTorch's default initialisation (the global RNG); use
    :func:`fastdatashapley.engine.training.init_state` for seeded initial weights.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown service-model arch {arch!r} (config key service.arch); "
                         f"choose one of {', '.join(sorted(ARCHS.names()))}")
    in_shape = tuple(int(s) for s in in_shape)  # type: ignore[assignment]
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (C, H, W) with positive sizes, got {in_shape}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    from torch import nn

    net = ARCHS.get(arch).build(in_shape, int(n_classes))
    if not isinstance(net, nn.Module):
        raise TypeError(f"service-model arch {arch!r} built a {type(net).__name__}, not a torch nn.Module")
    return net
