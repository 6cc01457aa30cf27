"""FreeShap (Wang et al. 2024): TMC-Shapley of the kernel-ridge utility on the service model's eNTK.

No sub-model is retrained: the utility of a subset is kernel ridge regression on it (:mod:`~fastdatashapley.games.krr`),
grown point by point along each permutation by an incremental Cholesky (:class:`~fastdatashapley.games.krr.PrefixKRR`)
that serves as the step of the shared permutation walk (:func:`~fastdatashapley.games.walk.walk`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...base.checks import check_count
from .. import coalitions as C
from .. import krr as K
from ..krr import Method, PrefixKRR, UtilityKind
from ..scorers import accuracy
from ..stopping import MaxPermutations, Truncation
from ..walk import permutation_bar, walk

__all__ = ["FreeShapSettings", "freeshap_values", "freeshap_values_global"]


@dataclass(frozen=True)
class FreeShapSettings:
    """How :func:`freeshap_values` and :func:`freeshap_values_global` value the training points.

    ridge: the KRR ridge, relative to the mean training diagonal when ``normalize`` (both kernels are then
    divided by it, :func:`~fastdatashapley.games.krr.normalize_kernels`). utility, temperature: the per-sample
    utility of :class:`~fastdatashapley.games.krr.KernelRidgeUtility` (the global values ignore them: their utility
    is the test accuracy). truncation: a :class:`~fastdatashapley.games.stopping.Truncation` (the sup-norm rule
    relative to ``max |v(D)|``; later points get 0 for that permutation), or None for none. method:
    ``"incremental"`` Cholesky (bordering) or ``"refit"`` (each prefix solved from scratch, for checking and
    benchmarking). batch_size: permutations advanced together (None: as many as fit in about 256 MB of state).
    progress: a progress bar over the permutations (advanced position by position, on stderr). Validated on
    construction.
    """

    ridge: float = 1e-6
    truncation: Truncation | None = Truncation()
    utility: UtilityKind = "softmax"
    temperature: float = 1.0
    normalize: bool = True
    method: Method = "incremental"
    batch_size: int | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        K.check_ridge(self.ridge)
        K.check_utility(self.utility, self.temperature)
        if self.truncation is not None and not isinstance(self.truncation, Truncation):
            raise TypeError(f"truncation must be a Truncation or None, got {type(self.truncation).__name__}")
        K.check_method(self.method)
        if self.batch_size is not None:
            check_count(self.batch_size, "batch_size")


def _krr_step(krr: PrefixKRR, value_of: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, int], np.ndarray]:
    """The ``step`` of :func:`~fastdatashapley.games.walk.walk_permutations` over the KRR prefixes ``krr``.

    ``krr`` advances every permutation it holds, truncated or not; once at most half of them are still
    active, it is compacted to the active ones, so truncation saves work as in a one-by-one loop.
    Returns ``step(rows, j) -> value_of(scores)[rows]`` ``[len(rows), *out]``.
    """
    held = np.arange(len(krr.orders))  # the batch rows whose state krr keeps, ascending

    def step(rows: np.ndarray, j: int) -> np.ndarray:
        nonlocal held
        if 2 * len(rows) <= len(held):
            krr.select(np.searchsorted(held, rows))
            held = rows
        cur = value_of(krr.step())
        return cur if len(rows) == len(held) else cur[np.searchsorted(held, rows)]

    return step


def _walk(
    Kt: np.ndarray,
    Kx: np.ndarray,
    Y: np.ndarray,
    perms: np.ndarray,
    value_of: Callable[[np.ndarray], np.ndarray],
    settings: FreeShapSettings,
) -> np.ndarray:
    """Average marginal contributions over ``perms [P, n]``; returns ``[n, *out]`` float64.

    ``value_of`` maps scores ``[P, T, m]`` to utilities ``[P, *out]``. Permutations are walked together in
    batches (:func:`~fastdatashapley.games.walk.walk`, the walk TMC uses) with the KRR prefixes as the step
    (:func:`_krr_step`).
    """
    n, T, m = Kt.shape[0], Kx.shape[0], Y.shape[1]
    ridge, batch_size = float(settings.ridge), settings.batch_size
    v_empty = value_of(np.zeros((1, T, m)))[0]
    v_full = value_of(K.fit_scores(Kt, Kx, Y, np.arange(n), ridge)[None])[0]
    close = settings.truncation.rule(v_full) if settings.truncation else None
    if batch_size is None:  # keep the per-permutation state near 256 MB
        per_perm = 8 * n * (n + T + m) + 8 * T * m
        batch_size = max(1, min(len(perms), (256 << 20) // per_perm))
    total = np.zeros((n,) + v_full.shape)
    taken = 0

    def draw(b: int) -> np.ndarray:
        nonlocal taken
        taken += b
        return perms[taken - b : taken]

    def make_step(orders: np.ndarray):
        step = _krr_step(PrefixKRR(Kt, Kx, Y, orders, ridge, settings.method), value_of)
        return step, np.repeat(v_empty[None], len(orders), axis=0)

    bar = permutation_bar(len(perms), "freeshap permutations", settings.progress)
    walk(draw, make_step, total, MaxPermutations(len(perms)), close=close,
         patience=settings.truncation.patience if settings.truncation else 0, batch=batch_size, bar=bar)
    bar.close()
    values = total / len(perms)
    if not np.all(np.isfinite(values)):
        raise FloatingPointError("FreeShap values are not finite; raise ridge or check the kernels")
    return values


def _permutations(n: int, n_permutations: int, seed: int, permutations: np.ndarray | None) -> np.ndarray:
    """The permutations to walk ``[P, n]``: the given ones (checked), else ``n_permutations`` from the shared
    generator (:func:`~fastdatashapley.games.coalitions.permutations`, the stream TMC draws from)."""
    if permutations is None:
        return C.permutations(n, check_count(n_permutations, "n_permutations"), seed=seed)
    perms = np.asarray(permutations)
    if perms.ndim != 2 or perms.shape[1] != n or perms.dtype.kind not in "iu":
        raise ValueError(f"permutations must be an int array of shape [P, n={n}], got {perms.shape}, {perms.dtype}")
    if not np.all(np.sort(perms, axis=1) == np.arange(n)):
        raise ValueError("every row of permutations must be a permutation of range(n)")
    return perms.astype(np.int64)


def _setup(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    n_permutations: int,
    seed: int,
    permutations: np.ndarray | None,
    settings: FreeShapSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What both FreeShap scopes start from: validated (and normalised) ``K [n, n]``, ``Kx [T, n]``,
    labels ``y [n]`` and the permutations ``[P, n]`` to walk."""
    if not isinstance(settings, FreeShapSettings):
        raise TypeError(f"settings must be a FreeShapSettings, got {type(settings).__name__}")
    Kt, Kx, y = K.validate(K_train, K_test_train, y_train, n_classes, settings.ridge)
    if settings.normalize:
        Kt, Kx, _ = K.normalize_kernels(Kt, Kx)
    perms = _permutations(Kt.shape[0], n_permutations, seed, permutations)
    return Kt, Kx, y, perms


def freeshap_values(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    n_permutations: int,
    *,
    seed: int = 0,
    permutations: np.ndarray | None = None,
    settings: FreeShapSettings = FreeShapSettings(),
) -> np.ndarray:
    """Per-sample FreeShap values ``[n, T, m]`` float64: TMC-Shapley of the KRR utility.

    ``K_train [n, n]``, ``K_test_train [T, n]``, ``y_train [n]`` int labels in [0, n_classes).
    ``values[i, t, c]`` is training point i's value for test point t and label c under the per-sample
    utility of :class:`KernelRidgeUtility` (same ``utility``, ``temperature``, ``normalize``, ``ridge`` as in
    ``settings``, a :class:`FreeShapSettings`). Each of ``n_permutations`` seeded permutations (or the given
    ``permutations [P, n]``; then ``n_permutations`` is ignored) is walked with an incremental Cholesky.
    Truncation (multi-output): a permutation stops once
    ``max_{t,c} |v_S(t,c) - v_D(t,c)| <= tolerance * max_{t,c} |v_D(t,c)|`` has held for more than
    ``patience`` consecutive steps. One truncation decision is shared by all test points and labels,
    because they share the prefix and the factorisation. Without truncation every permutation's marginals
    sum to ``v(D) - v(empty)`` exactly (efficiency).
    """
    Kt, Kx, y, perms = _setup(K_train, K_test_train, y_train, n_classes, n_permutations, seed, permutations, settings)
    value_of = lambda F: K.scores_to_utility(F, settings.utility, settings.temperature)  # noqa: E731
    return _walk(Kt, Kx, np.eye(n_classes)[y], perms, value_of, settings)


def freeshap_values_global(
    K_train: np.ndarray,
    K_test_train: np.ndarray,
    y_train: np.ndarray,
    y_test: np.ndarray,
    n_classes: int,
    n_permutations: int,
    *,
    seed: int = 0,
    permutations: np.ndarray | None = None,
    settings: FreeShapSettings = FreeShapSettings(),
) -> np.ndarray:
    """Global-scope FreeShap values ``[n]`` float64 against the KRR test accuracy (ties split evenly).

    ``y_test [T]``: the test labels. Same permutations, truncation (``|acc_S - acc_D| <= tolerance * acc_D``
    for more than ``patience`` steps) and incremental Cholesky as :func:`freeshap_values`; ``settings.utility``
    and ``settings.temperature`` are not used.
    """
    Kt, Kx, y, perms = _setup(K_train, K_test_train, y_train, n_classes, n_permutations, seed, permutations, settings)
    yt = K.validate_labels_test(y_test, Kx.shape[0], n_classes)
    value_of = lambda F: accuracy(F, yt)  # noqa: E731
    return _walk(Kt, Kx, np.eye(n_classes)[y], perms, value_of, settings)
