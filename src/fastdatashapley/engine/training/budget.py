"""Memory budgets: how many coalitions train together in one chunk, and how many probes one pass reads."""

from __future__ import annotations

import torch

from .spec import TrainerSpec

#: Default memory budget of one chunk on the CPU, in bytes (on a GPU: half of the free memory).
CPU_MEMORY_BUDGET = 1 << 30
#: Largest chunk on the CPU: beyond it a step no longer gets faster per model.
CPU_MAX_CHUNK = 256
#: Largest chunk, and most probes per forward pass, on a GPU.
GPU_MAX_CHUNK = 4096
#: Most probes per forward pass.
MAX_PROBE_BLOCK = 4096


def _budget(device: torch.device) -> int:
    """Bytes one chunk may use: half the free GPU memory, or :data:`CPU_MEMORY_BUDGET`."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0] // 2
    return CPU_MEMORY_BUDGET


def _auto_chunk(spec: TrainerSpec, act: int, n_params: int, device: torch.device) -> int:
    """Coalitions per chunk that fit the memory budget (on the CPU at most :data:`CPU_MAX_CHUNK`).

    ``act``: activation floats of one sample (:meth:`_Stacked.act_floats`); ``n_params``: floats of one model.
    """
    per_model = 4 * (6 * n_params + 4 * act * spec.batch_size)  # weights, grads, moments, update; saved acts + grads
    cap = GPU_MAX_CHUNK if device.type == "cuda" else CPU_MAX_CHUNK
    return int(max(1, min(cap, _budget(device) // max(per_model, 1))))


def _probe_block(act: int, k: int, device: torch.device) -> int:
    """Probes per forward pass for k stacked models: within budget; on the CPU about 64 MB of activations."""
    per_probe = 4 * 2 * act * k
    block = _budget(device) // per_probe
    if device.type != "cuda":
        block = min(block, max(16, (64 << 20) // per_probe))
    return int(max(1, min(MAX_PROBE_BLOCK, block)))
