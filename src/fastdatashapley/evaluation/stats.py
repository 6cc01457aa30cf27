"""Uncertainty for the yardsticks: a percentile bootstrap over test samples, the paired Wilcoxon signed-rank
test, and the mean with a confidence interval over seeds.

Only numpy, scipy and pandas are imported, so report rules run without torch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as st

_BOOT_CHUNK = 1 << 22  # resampled entries per chunk: bounds memory to ~32 MiB of indices whatever T is


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def bootstrap_ci(samples: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``samples`` ``[T]`` and its percentile-bootstrap confidence interval ``(mean, low, high)``.

    The T test samples are resampled with replacement ``n_boot`` times (seeded by ``seed``); the interval is
    the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled means. NaN entries (an LDS that
    is undefined for a sample, say) are dropped first: the mean and interval are over the defined samples
    only, and the caller reports how many were dropped. No defined sample gives ``(nan, nan, nan)``; one gives
    a zero-width interval.
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"samples must be 1-D [T], got shape {x.shape}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    _check_level(level)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CHUNK // x.size)
    means = np.concatenate([x[rng.integers(0, x.size, size=(min(chunk, n_boot - start), x.size))].mean(axis=1)
                            for start in range(0, n_boot, chunk)])
    low, high = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(x.mean()), float(low), float(high)


def wilcoxon_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the paired Wilcoxon signed-rank test of ``a`` against ``b`` (both ``[T]``, paired
    by test sample).

    Pairs with a NaN on either side are dropped. Fewer than 2 remaining pairs give NaN (no test). If every
    difference is zero the p-value is 1.0 (no evidence of a difference). Otherwise zero differences are
    discarded (``zero_method="wilcox"``, Wilcoxon's original convention) and scipy's ``method="auto"`` picks
    the exact null distribution for small samples without ties and the normal approximation otherwise.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"a and b must be 1-D of equal length, got shapes {a.shape} and {b.shape}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 2:
        return float("nan")
    if np.all(a == b):
        return 1.0
    return float(st.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided").pvalue)


def _t_interval(means: np.ndarray, level: float) -> tuple[float, float, float, float]:
    """Mean, std and Student-t interval of per-seed means ``[k]``; one seed gives NaN std and bounds."""
    k, centre = means.size, float(means.mean())
    if k < 2:
        return centre, float("nan"), float("nan"), float("nan")
    sd = float(means.std(ddof=1))
    half = float(st.t.ppf((1.0 + level) / 2.0, k - 1)) * sd / np.sqrt(k)
    return centre, sd, centre - half, centre + half


def seeds_summary(frame: pd.DataFrame, by: Sequence[str], value: str, *, seed_col: str = "seed",
                  level: float = 0.95) -> pd.DataFrame:
    """Mean over seeds of the per-seed means of ``value``, with a Student-t interval over seeds.

    ``frame`` has the columns ``by``, ``seed_col`` and ``value`` (one row per test sample, or already one per
    seed). Within each group of ``by`` the rows of a seed are averaged first (NaNs skipped), then the k seed
    means give ``mean``, ``std`` (ddof 1), ``ci_low``, ``ci_high`` and ``n_seeds``. The t interval suits the
    few seeds a run has (a bootstrap over 3 values is degenerate); one seed gives NaN std and bounds.
    """
    by = list(by)
    missing = [c for c in [*by, seed_col, value] if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the columns {missing}")
    _check_level(level)
    per_seed = frame.groupby([*by, seed_col], sort=True)[value].mean().dropna().reset_index()
    rows = []
    for key, group in per_seed.groupby(by, sort=True) if by else [((), per_seed)]:
        key = key if isinstance(key, tuple) else (key,)
        mean, sd, low, high = _t_interval(group[value].to_numpy(dtype=float), level)
        rows.append(dict(zip(by, key)) | {"mean": mean, "std": sd, "ci_low": low, "ci_high": high,
                                          "n_seeds": len(group)})
    return pd.DataFrame(rows, columns=[*by, "mean", "std", "ci_low", "ci_high", "n_seeds"])


#: What ``tables/<name>_seeds.csv`` aggregates of each per-seed table: its key columns and its score columns.
SEED_SUMMARIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "value_loss": (("method", "eta"), ("mean",)),
    "lds": (("method",), ("mean",)),
    "mislabel": (("method",), ("auroc", "f1_at_k")),
    "accuracy_vs_exact": (("method", "split"), ("pearson", "spearman", "rel_l2")),
}


def seeds_table(frames: dict[int, pd.DataFrame], name: str, *, level: float = 0.95) -> pd.DataFrame:
    """Mean and Student-t interval over seeds of the per-seed table ``name`` (a key of :data:`SEED_SUMMARIES`).

    ``frames[seed]`` is that seed's table. The result has the key columns, then for each score column
    ``<score>`` (or, for a table with one score, without the prefix) ``mean, std, ci_low, ci_high``, and
    ``n_seeds``; a key missing from some seeds is averaged over the seeds that have it.
    """
    if name not in SEED_SUMMARIES:
        raise ValueError(f"no seed summary for table {name!r}; known: {', '.join(SEED_SUMMARIES)}")
    if not frames:
        raise ValueError("frames is empty: no seed to aggregate")
    by, scores = SEED_SUMMARIES[name]
    stacked = pd.concat([f.assign(seed=seed) for seed, f in frames.items()], ignore_index=True)
    parts = []
    for score in scores:
        part = seeds_summary(stacked, by, score, level=level)
        prefix = "" if len(scores) == 1 else f"{score}_"
        parts.append(part.rename(columns={c: prefix + c for c in ("mean", "std", "ci_low", "ci_high")}))
    out = parts[0]
    for part in parts[1:]:
        out = out.merge(part.drop(columns="n_seeds"), on=list(by), how="outer")
    order = {k: i for i, k in enumerate(dict.fromkeys(map(tuple, stacked[list(by)].itertuples(index=False))))}
    out = out.iloc[sorted(range(len(out)), key=lambda i: order[tuple(out.loc[i, list(by)])])]
    return out[[c for c in out.columns if c != "n_seeds"] + ["n_seeds"]].reset_index(drop=True)
