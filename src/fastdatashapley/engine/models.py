"""Service-model builders.

Every service model is a plain ``nn.Sequential`` of ``Conv2d``, ``ReLU``, ``MaxPool2d``, ``Flatten`` and
``Linear`` layers. Inputs are float32 ``[B, C, H, W]``; outputs are logits ``[B, m]``. The retraining
engine (:mod:`fastdatashapley.engine.training`) relies on that restricted layer set to run many copies of a
model side by side.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

#: Layer types a service model may contain (the batched engine knows how to stack each of them).
SUPPORTED_LAYERS = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear)


def _conv_out(size: int, kernel: int, pad: int = 0) -> int:
    return size + 2 * pad - kernel + 1


def _paper_cnn(in_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """conv(C->16, 5x5, pad 2), ReLU, maxpool 2, conv(16->32, 5x5), ReLU, maxpool 2, linear -> m (authors' code)."""
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
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 64), nn.ReLU(), nn.Linear(64, n_classes))


ARCHS: dict[str, Callable[[tuple[int, int, int], int], nn.Sequential]] = {
    "paper_cnn": _paper_cnn,
    "digits_cnn": _digits_cnn,
    "digits_mlp": _digits_mlp,
}


def build_service_model(arch: str, in_shape: tuple[int, int, int], n_classes: int) -> nn.Sequential:
    """Build the service-model architecture ``arch`` for inputs ``in_shape = (C, H, W)`` and ``n_classes`` labels.

    Weights come from PyTorch's default initialisation (the global RNG); use
    :func:`fastdatashapley.engine.training.init_state` for seeded initial weights.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown service-model arch {arch!r}; choose one of {', '.join(sorted(ARCHS))}")
    in_shape = tuple(int(s) for s in in_shape)  # type: ignore[assignment]
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (C, H, W) with positive sizes, got {in_shape}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    return ARCHS[arch](in_shape, int(n_classes))
