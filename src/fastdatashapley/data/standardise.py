"""Standardisation of table features by the service training set D alone.

The loader returns the whole table; the split (:func:`~fastdatashapley.data.split.make_split`) picks D; then
:func:`standardise_by_train` fits each feature's mean and standard deviation on D's rows and applies them to every
row, D, test samples, explainer pool and validation set alike, so no held-out row shapes f_D's inputs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .datasets import Dataset


def standardise_by_train(ds: Dataset, train_idx: np.ndarray) -> Dataset:
    """``ds`` with every row's features ``x [N, 1, 1, d]`` replaced by ``(x - mean) / std``, mean and std (ddof 0)
    ``[1, 1, d]`` float32 per feature over the rows ``train_idx`` (D) only, and kept in ``feature_mean`` and
    ``feature_std``. A feature constant on D is only centred (its std taken as 1). Images (``ds.tabular`` False)
    come back unchanged."""
    if not ds.tabular:
        return ds
    train_idx = np.asarray(train_idx)
    if train_idx.ndim != 1 or len(train_idx) == 0:
        raise ValueError(f"standardise_by_train needs the indices of D's rows [n], n >= 1; got shape {list(train_idx.shape)}")
    d_rows = ds.x[train_idx].astype(np.float64)
    mean = d_rows.mean(axis=0)
    std = d_rows.std(axis=0)
    std[std == 0] = 1.0
    x = ((ds.x - mean) / std).astype(np.float32)
    return replace(ds, x=x, feature_mean=mean.astype(np.float32), feature_std=std.astype(np.float32))
