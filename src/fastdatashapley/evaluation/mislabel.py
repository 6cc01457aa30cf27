"""Mislabeled-data detection (OpenDataVal ``noisy_detection``, dattri ``mislabel_detection_auc``).

A fraction of the training labels is flipped, each to another class drawn uniformly; the noisy training set
is valued, and points are inspected from the lowest value up. Reported: the AUROC of "flipped" against the
suspicion -value, the F1 when the lowest ``n_flipped`` points are flagged, and the detection curve.

A per-sample method gives a value per training point for every sample and label; it is reduced to one score
per point, the mean over samples of the point's value at each sample's own label (``point_scores``). The
AUROC's confidence interval is a percentile bootstrap over those samples (``mislabel_summary``); a global
vector has no samples to resample and no interval.

Only numpy and scipy are imported, so report rules run without torch.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.stats import rankdata

MISLABEL_STREAM = zlib.crc32(b"mislabel")  # the seed stream of the flips: [seed, MISLABEL_STREAM]
MAX_FRACTION = 0.5  # beyond half the labels flipped, "mislabeled" is the majority
_BOOT_CHUNK = 1 << 22  # entries of one bootstrap chunk's count matrix and scores: ~32 MiB whatever n and T are


def flip_labels(y: np.ndarray, fraction: float, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``round(fraction * n)`` of the labels ``y`` ``[n]``; return ``(y_noisy [n], flipped_idx [k])``.

    The k points are drawn without replacement, uniformly; each gets a class drawn uniformly from the
    ``n_classes - 1`` others (the original plus an offset in 1..n_classes-1, modulo n_classes). The draw uses
    ``np.random.default_rng([seed, MISLABEL_STREAM])``. ``round`` is Python's (half to even).
    ``flipped_idx`` is sorted; ``y`` is not modified.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D [n], got shape {y.shape}")
    if not 0.0 <= fraction <= MAX_FRACTION:
        raise ValueError(f"fraction must lie in [0, {MAX_FRACTION}], got {fraction}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    if y.size and (y.min() < 0 or y.max() >= n_classes or not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"y must hold integer classes in [0, {n_classes}), got {y.dtype} in [{y.min()}, {y.max()}]")
    rng = np.random.default_rng([seed, MISLABEL_STREAM])
    k = int(round(fraction * y.size))
    flipped = np.sort(rng.choice(y.size, size=k, replace=False))
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, size=k)) % n_classes
    return noisy, flipped.astype(np.int64)


def own_label_values(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each sample's values at its own label: ``[n, T]`` from per-sample values ``[n, T, m]`` and labels ``[T]``."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 3:
        raise ValueError(f"values must be [n, T, m], got shape {v.shape}")
    labels = np.asarray(labels)
    if labels.shape != (v.shape[1],):
        raise ValueError(f"labels must be [T={v.shape[1]}], got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= v.shape[2]):
        raise ValueError(f"labels must lie in [0, {v.shape[2]}), got range [{labels.min()}, {labels.max()}]")
    return v[:, np.arange(labels.size), labels]


def point_scores(values: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """One score per training point ``[n]`` from per-sample values ``[n, T, m]`` and test labels ``[T]``.

    Each test sample's values are read at its own label, then averaged over the T samples: a flipped point
    should hurt the samples of its true class and help few others, so its mean own-label value is low. (The
    mean over all m labels would mix in labels the samples do not have.) A global vector ``[n]`` passes
    through unchanged and ``labels`` is ignored.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        return v
    if v.ndim != 3:
        raise ValueError(f"values must be [n, T, m] or [n], got shape {v.shape}")
    if labels is None:
        raise ValueError("labels [T] are required for per-sample values [n, T, m]")
    return own_label_values(v, labels).mean(axis=1)


def _flipped_mask(scores: np.ndarray, flipped: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``scores`` ``[n]`` (finite) and the boolean mask ``[n]`` of ``flipped`` indices."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 1 or (n is not None and scores.shape[0] != n):
        raise ValueError(f"scores must be 1-D [n={n}], got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    flipped = np.asarray(flipped)
    if flipped.ndim != 1 or (flipped.size and not np.issubdtype(flipped.dtype, np.integer)):
        raise ValueError(f"flipped must be a 1-D array of indices, got {flipped.dtype} of shape {flipped.shape}")
    if flipped.size and (flipped.min() < 0 or flipped.max() >= scores.size or np.unique(flipped).size < flipped.size):
        raise ValueError(f"flipped must hold distinct indices in [0, {scores.size})")
    mask = np.zeros(scores.size, dtype=bool)
    mask[flipped] = True
    return scores, mask


def _auroc(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """AUROC ``[B]`` of suspicion ``-scores`` for each column of ``scores`` ``[n, B]`` against the flipped ``mask``
    ``[n]`` (both classes present): the Mann-Whitney rank sum, ties at average ranks (a flipped-clean tie counts
    1/2)."""
    k, clean = int(mask.sum()), int((~mask).sum())
    ranks = rankdata(-scores, axis=0)
    return (ranks[mask].sum(axis=0) - k * (k + 1) / 2.0) / (k * clean)


def detection(scores: np.ndarray, flipped: np.ndarray, n: int) -> dict:
    """Detection of the ``flipped`` indices ``[k]`` among ``n`` points with scores ``[n]`` (suspicion = -score).

    ``auroc``: the Mann-Whitney rank-sum estimate of P(suspicion of a flipped point > that of a clean one),
    ties counting one half (average ranks). ``f1_at_k``: the F1 when the k lowest-scored points are flagged,
    ties broken by index (lower index first); with k flagged and k flipped it equals precision and recall.
    No flipped or no clean point leaves both undefined: NaN.
    """
    scores, mask = _flipped_mask(scores, flipped, n)
    k, clean = int(mask.sum()), int((~mask).sum())
    if k == 0 or clean == 0:
        return {"auroc": float("nan"), "f1_at_k": float("nan"), "n_flipped": k}
    auroc = _auroc(scores[:, None], mask)[0]
    flagged = np.argsort(scores, kind="stable")[:k]
    hits = int(mask[flagged].sum())
    f1 = 2.0 * hits / (flagged.size + k)  # 2 TP / (flagged + flipped)
    return {"auroc": float(auroc), "f1_at_k": f1, "n_flipped": k}


def detection_curve(scores: np.ndarray, flipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Detection curve: fraction of points inspected ``[n+1]`` (lowest score first, ties by index) against
    the fraction of flipped points found ``[n+1]``; it runs from (0, 0) to (1, 1). No flipped point: the
    found fraction is NaN throughout."""
    scores, mask = _flipped_mask(scores, flipped)
    found = np.concatenate([[0], np.cumsum(mask[np.argsort(scores, kind="stable")])])
    inspected = np.arange(scores.size + 1) / max(scores.size, 1)
    if not mask.any():
        return inspected, np.full(scores.size + 1, np.nan)
    return inspected, found / mask.sum()


def _per_sample_scores(per_sample: np.ndarray, flipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validated own-label values ``[n, T]`` (finite, T >= 1) and the flipped mask ``[n]``."""
    v = np.asarray(per_sample, dtype=float)
    if v.ndim != 2 or v.shape[1] < 1:
        raise ValueError(f"per_sample must be [n, T] with T >= 1, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("per_sample must be finite")
    _, mask = _flipped_mask(v[:, 0], flipped)
    return v, mask


def bootstrap_aurocs(per_sample: np.ndarray, flipped: np.ndarray, *, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """AUROC ``[n_boot]`` of the point scores recomputed on bootstrap resamples of the samples.

    ``per_sample`` ``[n, T]`` holds each training point's own-label value for each of the T samples the score
    averages (explainer pool or test samples). Each replicate draws T sample indices with replacement
    (``np.random.default_rng(seed)``), scores every point by its mean over the draw, and ranks as
    :func:`detection` does. Replicates run in chunks, as a count matrix times ``per_sample``, so memory stays
    small for any n and T. No flipped or no clean point: NaN throughout.
    """
    v, mask = _per_sample_scores(per_sample, flipped)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if not mask.any() or mask.all():
        return np.full(n_boot, np.nan)
    n, t = v.shape
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CHUNK // max(n, t))
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = np.zeros((b, t))
        np.add.at(counts, (np.arange(b)[:, None], rng.integers(0, t, size=(b, t))), 1.0)
        out[start : start + b] = _auroc(v @ (counts.T / t), mask)  # scores [n, b]
    return out


def mislabel_summary(per_sample: np.ndarray, flipped: np.ndarray, *, n_boot: int = 2000, level: float = 0.95,
                     seed: int = 0) -> dict:
    """One row of the mislabel table: ``auroc, auroc_ci_low, auroc_ci_high, f1_at_k, n_flipped``.

    ``per_sample`` ``[n, T]`` (own-label values per sample, see :func:`bootstrap_aurocs`) is scored by its mean
    over the T samples; ``auroc`` and ``f1_at_k`` are :func:`detection`'s, and the interval is the percentile
    bootstrap over the samples (``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of ``n_boot``
    replicates, seeded). A global vector ``[n]`` has no samples to resample: its interval is NaN.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    v = np.asarray(per_sample, dtype=float)
    result = detection(v if v.ndim == 1 else v.mean(axis=1), flipped, v.shape[0])
    low = high = float("nan")
    if v.ndim != 1 and not np.isnan(result["auroc"]):
        boots = bootstrap_aurocs(v, flipped, n_boot=n_boot, seed=seed)
        low, high = (float(q) for q in np.quantile(boots, [(1.0 - level) / 2.0, (1.0 + level) / 2.0]))
    return {"auroc": result["auroc"], "auroc_ci_low": low, "auroc_ci_high": high, "f1_at_k": result["f1_at_k"],
            "n_flipped": result["n_flipped"]}
