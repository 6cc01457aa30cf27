"""CS-Shapley's class-wise estimator (Schoch et al. 2022): in-class games with sampled out-of-class contexts."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...base.checks import check_count, check_n
from .. import coalitions as C
from ..stopping import MaxPermutations
from ..utility import evaluate
from ..walk import walk


def class_wise(
    utility: Callable[[np.ndarray, int], np.ndarray],
    labels: np.ndarray,
    n_contexts: int,
    n_permutations: int,
    *,
    seed: C.Seed = 0,
    batch_size: int = 4096,
) -> np.ndarray:
    """CS-Shapley's class-wise estimator, before per-class normalisation: ``[n, *out]``.

    API: ``utility(masks [k, n] bool, c) -> [k, *out]`` receives data masks (in-class coalition plus
    out-of-class context) and the class c being valued; the in-class part of a mask is
    ``masks[:, labels == c]`` and the context ``masks[:, labels != c]``.
    Estimator, per class c (players: the points with label c): draw ``n_contexts`` contexts S_out uniformly
    from the subsets of the out-of-class points (each joins with probability 1/2); for each, walk
    ``n_permutations`` uniform permutations of the in-class players, evaluating v(S_in + S_out, c) for every
    prefix S_in (including the empty one: the context alone). A point's value is its mean marginal
    contribution over all contexts and permutations: an unbiased estimate of
    E_{S_out}[phi_i(v(. + S_out, c))]. Each class's values sum to the mean over contexts of
    v(class c + S_out, c) - v(S_out, c); the paper's per-class normalisation is left to the caller
    (the ``cs_shapley`` method). Every prefix of a class is evaluated in one batch of utility calls (there is no
    truncation), then walked (:func:`~fastdatashapley.games.walk.walk`). Cost: sum_c n_contexts *
    n_permutations * (|c| + 1) evaluations.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {list(labels.shape)}")
    n = check_n(len(labels), "len(labels)")
    n_contexts = check_count(n_contexts, "n_contexts")
    n_permutations = check_count(n_permutations, "n_permutations")
    rng = np.random.default_rng(seed)
    phi = None
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        others = np.flatnonzero(labels != c)
        contexts = rng.random((n_contexts, len(others))) < 0.5
        k = n_contexts * n_permutations
        orders = C.permutations(len(members), k, seed=rng)  # [k, |c|] over the members
        masks = np.zeros((k, len(members) + 1, n), dtype=bool)
        masks[:, :, members] = C.prefix_masks(orders)
        masks[:, :, others] = np.repeat(contexts, n_permutations, axis=0)[:, None, :]
        v = evaluate(lambda m, c=c: utility(m, c.item()), masks.reshape(-1, n), batch_size)
        v = v.reshape(k, len(members) + 1, *v.shape[1:])  # every prefix of every order, the context alone first
        total = np.zeros((len(members), *v.shape[2:]))
        walk(lambda b, orders=orders: orders, lambda o, v=v: ((lambda rows, j: v[rows, j + 1]), v[:, 0]), total,
             MaxPermutations(k), batch=k)
        if phi is None:
            phi = np.zeros((n, *v.shape[2:]))
        phi[members] = total / k
    return phi
