"""The one chunked predictor: a network's outputs on many images, a fixed number of images at a time (CPU)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

#: Images per forward pass of :func:`predict_chunked`.
PREDICT_CHUNK = 4096


def softmax_rows(out: torch.Tensor) -> torch.Tensor:
    """Softmax over the label axis of logits ``[B, m]``."""
    return torch.softmax(out, 1)


def predict_chunked(
    net: Callable[[torch.Tensor], torch.Tensor],
    x: np.ndarray,
    *,
    batch: int = PREDICT_CHUNK,
    fn: Callable[[torch.Tensor], torch.Tensor] = softmax_rows,
) -> np.ndarray:
    """``fn(net(x[i : i + batch]))`` for consecutive chunks of images ``x [N, C, H, W]``, stacked: ``[N, ...]``.

    Runs under ``torch.no_grad`` on the CPU; the caller puts ``net`` in eval mode. Each chunk is fed as
    contiguous float32 (no copy when ``x`` already is). The result has ``fn``'s dtype (float32 for the default
    :func:`softmax_rows`: ``[N, m]``); an empty ``x`` gives an empty ``[0, ...]`` array of the right width.
    """
    starts = range(0, len(x), batch) or range(1)  # one pass over the empty input fixes the output width
    with torch.no_grad():
        parts = [fn(net(torch.from_numpy(np.ascontiguousarray(x[i : i + batch], dtype=np.float32)))).numpy()
                 for i in starts]
    return np.concatenate(parts)
