"""The data providers' ranking (paper section 2.1): each provider's value for a prediction is the sum of its points'
values; the table ranks the providers of D by that value, averaged over the test samples, for every method."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

#: Providers per method in the Markdown table (the CSV ranks every provider).
TOP = 5


def provider_ranking(values: Mapping[str, np.ndarray], of_point: np.ndarray, names: Sequence[str],
                     labels: np.ndarray) -> pd.DataFrame:
    """Rank the providers under each method's values.

    ``values[label]``: a method's values, per sample ``[n, T, m]`` (read at each test sample's label ``labels [T]``)
    or global ``[n]`` (the same for every sample). ``of_point [n]``: each training point's provider, an index into
    ``names``. Columns: method, rank (1 = highest mean value), provider, points (in D), mean_value (its points'
    values summed, averaged over the T samples) and top_share (the share of samples where it ranks first).
    Providers with no point in D are listed with value 0.
    """
    of_point, labels = np.asarray(of_point, np.int64), np.asarray(labels, np.int64)
    points = np.bincount(of_point, minlength=len(names))
    rows = []
    for method, v in values.items():
        v = np.asarray(v, np.float64)
        if v.shape[:1] != of_point.shape:
            raise ValueError(f"values of {method} have {v.shape[0]} training points, the providers {len(of_point)}")
        per_sample = v[:, np.arange(len(labels)), labels] if v.ndim == 3 else np.repeat(v[:, None], len(labels), 1)
        totals = pd.DataFrame(per_sample).groupby(of_point).sum().reindex(range(len(names)), fill_value=0.0)
        totals = totals.to_numpy().T  # [T, providers]
        mean, first = totals.mean(0), np.bincount(totals.argmax(1), minlength=len(names)) / len(labels)
        for rank, j in enumerate(np.argsort(-mean, kind="stable")):
            rows.append({"method": method, "rank": rank + 1, "provider": str(names[j]), "points": int(points[j]),
                         "mean_value": float(mean[j]), "top_share": float(first[j])})
    return pd.DataFrame(rows, columns=["method", "rank", "provider", "points", "mean_value", "top_share"])
