"""The seeded split of a dataset into the service training set D, the test samples and the probes.

Probes are the points a utility table holds utilities for, each with a role: explainer training pool, explainer
validation, or evaluation test sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .datasets import Dataset

#: Probe roles in a table's probe set: explainer training pool, explainer validation, evaluation test samples.
POOL, VALIDATION, TEST = 0, 1, 2
ROLES = (POOL, VALIDATION, TEST)


@dataclass(frozen=True)
class Split:
    """Dataset indices of each role.

    ``train``: service training set D (balanced, sorted by class). ``test``: evaluation test samples.
    ``rest``: the remaining eval-part images in a seeded order; the explainer validation set and pool are
    taken from its front (after the optional correctness filter, see :func:`take_probes`).
    """

    train: np.ndarray
    test: np.ndarray
    rest: np.ndarray


def make_split(ds: Dataset, n_train: int, n_test: int, n_needed: int, seed: int) -> Split:
    """Draw D (``n_train`` points, ``n_train / n_classes`` per class) and the test samples, seeded.

    ``n_needed`` (pool + validation size) is checked against what remains. Test samples are balanced when
    ``n_test`` is divisible by the number of classes, else a uniform sample.
    """
    m = ds.n_classes
    if n_train % m:
        raise ValueError(f"split.n_train = {n_train} is not divisible by the number of classes ({m}) of {ds.where}")
    rng = np.random.default_rng(seed)
    train = _balanced(ds.y, ds.train_idx, n_train // m, m, rng, "split.n_train", ds.where)
    eval_idx = np.setdiff1d(ds.eval_idx, train)
    if n_test % m == 0:
        test = _balanced(ds.y, eval_idx, n_test // m, m, rng, "split.n_test", ds.where)
    else:
        if n_test > len(eval_idx):
            raise ValueError(f"split.n_test = {n_test} exceeds the {len(eval_idx)} eval images of {ds.where}")
        test = np.sort(rng.choice(eval_idx, n_test, replace=False))
    rest = rng.permutation(np.setdiff1d(eval_idx, test))
    if n_needed > len(rest):
        raise ValueError(
            f"split.n_pool + split.n_val = {n_needed} exceeds the {len(rest)} eval images of {ds.where} left "
            f"after D and the test set"
        )
    return Split(train.astype(np.int64), test.astype(np.int64), rest.astype(np.int64))


def _balanced(y, candidates, per_class, m, rng, key, name) -> np.ndarray:
    chosen = []
    for c in range(m):
        pool = candidates[y[candidates] == c]
        if per_class > len(pool):
            raise ValueError(f"{key} asks for {per_class} images of class {c} but {name} has only {len(pool)} there")
        chosen.append(np.sort(rng.choice(pool, per_class, replace=False)))
    return np.concatenate(chosen)


def take_probes(rest: np.ndarray, keep: np.ndarray, n_val: int, n_pool: int) -> tuple[np.ndarray, np.ndarray]:
    """Take the validation set, then the pool, from the front of ``rest`` where ``keep`` is True.

    ``keep``: bool ``[len(rest)]`` (all True without the correctness filter). Returns (val, pool) indices.
    """
    kept = rest[np.asarray(keep, bool)]
    if n_val + n_pool > len(kept):
        raise ValueError(
            f"split.n_val + split.n_pool = {n_val + n_pool} but only {len(kept)} candidate images passed the "
            f"filter; lower them or set split.pool_correct_only: false"
        )
    return kept[:n_val], kept[n_val : n_val + n_pool]


def probe_test_rows(probes: dict[str, np.ndarray], idx_test: np.ndarray, source: str = "probes") -> np.ndarray:
    """Rows ``[T]`` of a probe set (``role [P]``, ``idx [P]``) that hold the split's test samples ``idx_test [T]``,
    in the split's order: the columns of a utility table to read for the test samples. ValueError naming
    ``source`` when they are not exactly those samples in that order."""
    rows = np.flatnonzero(np.asarray(probes["role"]) == TEST)
    if not np.array_equal(np.asarray(probes["idx"])[rows], idx_test):
        raise ValueError(f"{source}: its test probes are not the split's test samples in order")
    return rows
