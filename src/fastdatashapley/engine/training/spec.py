"""What a sub-model is and how it is trained: :class:`TrainerSpec`, its choices and the Adam constants."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..models import build_service_model

#: Utility read from a sub-model: softmax after the last epoch, or mean over epochs of the softmax.
UTILITIES = ("last", "mean")
OPTIMIZERS = ("adam", "sgd")
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class TrainingDivergedError(FloatingPointError):
    """A sub-model's loss or output became NaN or infinite; the message names the coalition indices."""


@dataclass(frozen=True)
class TrainerSpec:
    """How every sub-model is trained, and which utility is read from it.

    ``in_shape`` is ``(C, H, W)``; ``lr`` the learning rate; ``epochs`` passes over the coalition;
    ``utility`` is ``"last"`` (softmax after the last epoch, the paper) or ``"mean"`` (mean over epochs
    of the softmax after each epoch, the AFDS authors' code).
    """

    arch: str
    in_shape: tuple[int, int, int]
    n_classes: int
    lr: float = 1e-3
    epochs: int = 50
    batch_size: int = 20
    optimizer: str = "adam"
    weight_decay: float = 0.0
    utility: str = "last"

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.in_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"TrainerSpec.in_shape must be (C, H, W) with positive sizes, got {self.in_shape}")
        object.__setattr__(self, "in_shape", shape)
        casts = (("n_classes", int), ("epochs", int), ("batch_size", int), ("lr", float), ("weight_decay", float))
        for name, cast in casts:
            object.__setattr__(self, name, cast(getattr(self, name)))
        if self.n_classes < 2:
            raise ValueError(f"TrainerSpec.n_classes must be >= 2, got {self.n_classes}")
        if self.epochs < 0:
            raise ValueError(f"TrainerSpec.epochs must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"TrainerSpec.batch_size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"TrainerSpec.lr must be a positive number, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"TrainerSpec.weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"TrainerSpec.optimizer {self.optimizer!r} is unknown; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.utility not in UTILITIES:
            raise ValueError(f"TrainerSpec.utility {self.utility!r} is unknown; choose one of {', '.join(UTILITIES)}")
        build_service_model(self.arch, self.in_shape, self.n_classes)  # validates arch and shape

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``in_shape`` as a list)."""
        d = dataclasses.asdict(self)
        d["in_shape"] = list(self.in_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainerSpec":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(d) - known)
        if extra:
            raise ValueError(f"unknown TrainerSpec keys {extra}; known keys are {sorted(known)}")
        return cls(**d)

    def approx(self, epochs: int, lr_factor: float = 10.0, utility: str = "last") -> "TrainerSpec":
        """AFDS approximate utility: ``epochs`` (K) epochs at ``lr_factor * lr`` (beta), read as ``utility``."""
        return dataclasses.replace(self, epochs=epochs, lr=self.lr * lr_factor, utility=utility)

    def build(self) -> nn.Module:
        """A fresh (unseeded) instance of the architecture."""
        return build_service_model(self.arch, self.in_shape, self.n_classes)
