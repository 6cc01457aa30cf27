"""Checks of state dicts read from files, against the shapes of the net they claim to be, and torch files' writing.

Each check raises a ValueError that names the entry at fault. Nothing here allocates more than the input it
checks: expected shapes come from a module built on the ``meta`` device.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..base.io import atomic_path


def expected_shapes(build: Callable[[], nn.Module]) -> dict[str, tuple[int, ...]]:
    """Shapes of every state-dict entry of the module ``build()`` makes, built on the meta device (no memory)."""
    with torch.device("meta"):
        module = build()
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def parameter_count(build: Callable[[], nn.Module]) -> int:
    """Number of parameters of the module ``build()`` makes, built on the meta device (no memory)."""
    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters())


def check_state_dict(state: Any, expected: Mapping[str, tuple[int, ...]], what: str) -> None:
    """Raise ValueError unless ``state`` holds a tensor of exactly the ``expected`` shape for every key, and no other,
    each backed by as many bytes as it holds, with finite floating-point weights.

    ``what`` names the state dict in the message (for example ``"net_state"``).
    """
    if not isinstance(state, Mapping):
        raise ValueError(f"{what} is a {type(state).__name__}, not a state dict")
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise ValueError(f"{what} does not fit its config: missing entries {missing}, unexpected entries {extra}")
    for key, shape in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{what} entry {key!r} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{what} entry {key!r} has shape {list(value.shape)}, but its config gives {list(shape)}")
        if value.untyped_storage().nbytes() < value.numel() * value.element_size():
            raise ValueError(f"{what} entry {key!r} of shape {list(value.shape)} is stored in fewer bytes than it "
                             "holds")
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"{what} entry {key!r} holds NaN or infinite weights")


def check_service_states(spec: Any, states: Mapping[str, Any]) -> None:
    """Check the saved service model's ``states`` (name -> state dict) against the net its ``spec`` dict describes.

    Runs before the spec is turned into a :class:`~fastdatashapley.engine.training.TrainerSpec` (which builds the net),
    so a file whose spec states a huge net fails here without allocating it.
    """
    from .models import build_service_model

    if not isinstance(spec, Mapping) or not {"arch", "in_shape", "n_classes"} <= set(spec):
        raise ValueError("the service model's spec must hold arch, in_shape and n_classes")
    expected = expected_shapes(lambda: build_service_model(spec["arch"], spec["in_shape"], spec["n_classes"]))
    for what, state in states.items():
        check_state_dict(state, expected, what)


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    """``torch.save(obj)`` to ``path``, atomically. It writes through a file object, so the archive inside is
    always named ``archive`` (not after the temp file) and a write error is an OSError naming ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
