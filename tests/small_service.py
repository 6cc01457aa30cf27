"""A real, briefly trained digits service model for tests that need one (classes 0-2, a few per class)."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from fastdatashapley.data import Dataset, load_dataset
from fastdatashapley.engine.service import ServiceModel, fit_service_model
from fastdatashapley.engine.training import TrainerSpec

SPEC = TrainerSpec("digits_cnn", (1, 8, 8), 3, lr=0.01, epochs=5, batch_size=6)


@contextmanager
def one_torch_thread():
    """Tiny nets on a shared 2-core machine: one intra-op thread is several times faster than two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def small_digits_service(per_class: int) -> tuple[Dataset, np.ndarray, ServiceModel]:
    """(digits of classes 0-2, training indices ``[3 * per_class]`` (the first of each class), service model)."""
    ds = load_dataset("digits", classes=[0, 1, 2])
    idx = np.concatenate([np.flatnonzero(ds.y == c)[:per_class] for c in range(3)])
    return ds, idx, fit_service_model(SPEC, ds.x[idx], ds.y[idx], seed=0, device="cpu")
