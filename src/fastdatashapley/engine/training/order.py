"""Common random numbers: the seeded initial weights and each coalition's data order.

The data order of coalition ``s`` in epoch ``e`` is a function of ``(seed, mask content, e)`` only, so the
same coalition gets the same order whatever design, shard, chunk or position it appears in.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from .spec import TrainerSpec


def init_state(spec: TrainerSpec, seed: int) -> dict[str, torch.Tensor]:
    """The seeded initial weights (the null model) shared by every sub-model; the global RNG is untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = spec.build()
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def coalition_keys(seed: int, masks: np.ndarray) -> np.ndarray:
    """uint64 ``[k]`` data-order key of each mask in ``masks [k, n]``: SHA-256 of (seed, n, packed mask bits)."""
    masks = np.asarray(masks, dtype=bool)
    head = int(seed).to_bytes(16, "little", signed=True) + masks.shape[1].to_bytes(8, "little")
    packed = np.packbits(masks, axis=1)
    return np.array(
        [int.from_bytes(hashlib.sha256(b"fds-order" + head + row.tobytes()).digest()[:8], "little") for row in packed],
        dtype=np.uint64,
    )


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 ``z`` (wraps modulo 2**64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def epoch_orders(keys: np.ndarray, masks: np.ndarray, epoch: int) -> np.ndarray:
    """int64 ``[k, n]``: row ``j`` lists coalition ``j``'s members in its epoch-``epoch`` order, then the non-members.

    The order sorts members by ``splitmix64(key + (epoch * n + i) * golden)``, so it depends only on the
    key (seed, mask) and the epoch.
    """
    masks = np.asarray(masks, dtype=bool)
    k, n = masks.shape
    counter = np.uint64(epoch) * np.uint64(n) + np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = _splitmix64(np.asarray(keys, dtype=np.uint64)[:, None] + counter[None, :] * np.uint64(0x9E3779B97F4A7C15))
    r = np.where(masks, z >> np.uint64(1), np.uint64(1 << 63) + np.arange(n, dtype=np.uint64)[None, :])
    return np.argsort(r, axis=1, kind="stable").astype(np.int64)
