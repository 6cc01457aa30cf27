"""The paper's baselines on the shared engine, in two scopes.

* ``global``: the utility is the accuracy of the retrained sub-model on the whole evaluation test set, as
  the paper ran the baselines. One value vector ``[n]`` serves every test sample.
* ``per_sample``: the utility is the softmax of the retrained sub-model on each test sample, for every
  label, ``[T, m]``. One retrained model serves all test samples at once, so the values ``[n, T, m]`` cost
  no more retraining than the global ones.

CS-Shapley (Schoch et al. 2022), as defined here: a point of class c is valued in the class-wise game
whose players are the class-c training points, with out-of-class training contexts sampled uniformly.
In the global scope the utility of a coalition S_in (with context S_out) is a_in * exp(a_out), where
a_in (a_out) counts the evaluation samples of class c (of other classes) that the model trained on
S_in + S_out classifies correctly, divided by the evaluation-set size. In the per-sample scope the
evaluation set is the single test sample x, so for the label y of interest the out-of-class evaluation
set is empty (a_out = 0, exp(a_out) = 1) and the utility is the softmax probability of y on x: the same
quantity every other per-sample method uses, so the rankings compare like with like. Values are then
normalised per class (global scope, as in the paper: each class's values are rescaled to sum to that
class's share of the grand utility); per-sample values are left unnormalised, since the per-sample game
has no class-wise accuracy to share out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .retrainer import Retrainer

if TYPE_CHECKING:
    from .freeshap import FreeShapSettings

SCOPES = ("global", "per_sample")


@dataclass
class EngineUtility:
    """The project's utility contract over the engine: ``masks [k, n]`` -> ``[k]`` or ``[k, T, m]``.

    ``retrainer`` retrains the sub-models; ``x_test [T, C, H, W]`` and ``y_test [T]`` are the test samples.
    ``scope="global"`` returns accuracy on the test set ``[k]``; ``"per_sample"`` the softmax ``[k, T, m]``.
    ``retrained`` counts the sub-models trained so far (the cost table's retraining count). ``progress``: show
    the engine's progress bar in each call (for baselines that make a few large calls; TMC, which makes one
    small call per prefix position, keeps its own bar over permutations instead).
    """

    retrainer: Retrainer
    x_test: np.ndarray
    y_test: np.ndarray
    scope: str
    progress: bool = False
    retrained: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"scope {self.scope!r} is unknown; choose one of {', '.join(SCOPES)}")

    @property
    def n(self) -> int:
        return self.retrainer.n

    def softmax(self, masks: np.ndarray) -> np.ndarray:
        """Softmax of each coalition's sub-model on the test samples: ``[k, T, m]`` float64."""
        masks = np.asarray(masks, dtype=bool)
        self.retrained += int(masks.any(axis=1).sum())
        return self.retrainer.softmax(masks, self.x_test, progress=self.progress).astype(np.float64)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        u = self.softmax(masks)
        if self.scope == "per_sample":
            return u
        return (u.argmax(axis=2) == self.y_test[None, :]).mean(axis=1)


def random_values(n: int, n_test: int, n_classes: int, scope: str, seed: int) -> np.ndarray:
    """The random-removal reference: i.i.d. standard normal values, ``[n]`` or ``[n, T, m]``."""
    rng = np.random.default_rng([seed, 0xBA5E])
    return rng.standard_normal(n if scope == "global" else (n, n_test, n_classes))


def accuracy_from_softmax(softmax: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    """Global utility from per-sample softmax ``[k, T, m]``: accuracy on the T test samples ``[k]``."""
    return (np.asarray(softmax).argmax(axis=2) == np.asarray(y_test)[None, :]).mean(axis=1)


def cs_shapley(utility: EngineUtility, n_contexts: int, n_permutations: int, *, seed: int) -> np.ndarray:
    """CS-Shapley values (module docstring has the definition): ``[n]`` global or ``[n, T, m]`` per sample."""
    from .shapley import class_wise

    y_train, y_test = utility.retrainer.y_train, utility.y_test

    def classwise_utility(masks: np.ndarray, c: int) -> np.ndarray:
        u = utility.softmax(masks)
        if utility.scope == "per_sample":
            return u
        correct = u.argmax(axis=2) == y_test[None, :]
        a_in = (correct & (y_test == c)[None, :]).sum(1) / len(y_test)
        a_out = (correct & (y_test != c)[None, :]).sum(1) / len(y_test)
        return a_in * np.exp(a_out)

    values = class_wise(classwise_utility, y_train, n_contexts, n_permutations, seed=seed)
    if utility.scope == "global":
        values = _normalise_per_class(values, y_train, utility)
    return values


def _normalise_per_class(values: np.ndarray, y_train: np.ndarray, utility: EngineUtility) -> np.ndarray:
    """Rescale each class's values to sum to its share of the full model's test accuracy.

    A class's share is the accuracy on the test samples of that class, divided by the test-set size.
    Classes whose values sum to 0 are left as they are.
    """
    full = utility.softmax(np.ones((1, utility.n), bool))[0]
    correct = full.argmax(axis=1) == utility.y_test
    out = values.copy()
    for c in np.unique(y_train):
        idx = y_train == c
        share = (correct & (utility.y_test == c)).sum() / len(utility.y_test)
        total = values[idx].sum()
        if abs(total) > 1e-12:
            out[idx] = values[idx] * share / total
    return out


def freeshap(
    service,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    scope: str,
    n_permutations: int,
    *,
    seed: int,
    settings: FreeShapSettings | None = None,
    device: str = "auto",
) -> np.ndarray:
    """FreeShap on the trained service model's empirical NTK: ``[n]`` global or ``[n, T, m]`` per sample.

    x_train ``[n, C, H, W]``, y_train ``[n]``, x_test ``[T, C, H, W]``, y_test ``[T]``; ``settings``: a
    :class:`~fastdatashapley.freeshap.FreeShapSettings` (None: its defaults); ``device`` computes the eNTK.
    """
    import torch

    from . import freeshap as fs

    net = service.spec.build()
    net.load_state_dict(service.state)
    k_train, k_test = fs.ntk_kernels(net, torch.from_numpy(x_train), torch.from_numpy(x_test), device=device)
    m = service.spec.n_classes
    kw = dict(seed=seed, settings=fs.FreeShapSettings() if settings is None else settings)
    if scope == "global":
        return fs.freeshap_values_global(k_train, k_test, y_train, y_test, m, n_permutations, **kw)
    return fs.freeshap_values(k_train, k_test, y_train, m, n_permutations, **kw)
