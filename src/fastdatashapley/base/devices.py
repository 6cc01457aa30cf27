"""The one device resolver: ``"auto"`` means CUDA when available, else the CPU."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> ``cuda`` if available else ``cpu``; any other value -> ``torch.device(value)``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
