"""The batched engine as a utility: ``masks [k, n]`` -> each coalition's retrained sub-model, scored by scope."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..games.scorers import Scorer
from .retrainer import Retrainer


@dataclass
class EngineUtility:
    """The project's utility contract over the engine: ``masks [k, n]`` -> ``[k]`` or ``[k, T, m]``.

    ``retrainer`` retrains the sub-models; ``x_test [T, C, H, W]`` are the test samples and ``scorer`` (chosen once
    from the scope) turns their softmax into the utility: test accuracy ``[k]`` (global) or the softmax ``[k, T, m]``
    (per sample). ``retrained`` counts the sub-models trained so far (the cost table's retraining count).
    ``progress``: show the engine's progress bar in each call (for baselines that make a few large calls; TMC, which
    makes one small call per prefix position, keeps its own bar over permutations instead).
    """

    retrainer: Retrainer
    x_test: np.ndarray
    scorer: Scorer
    progress: bool = False
    retrained: int = field(default=0, init=False)

    @property
    def n(self) -> int:
        return self.retrainer.n

    @property
    def scope(self) -> str:
        return self.scorer.scope

    def softmax(self, masks: np.ndarray) -> np.ndarray:
        """Softmax of each coalition's sub-model on the test samples: ``[k, T, m]`` float64."""
        masks = np.asarray(masks, dtype=bool)
        self.retrained += int(masks.any(axis=1).sum())
        return self.retrainer.softmax(masks, self.x_test, progress=self.progress).astype(np.float64)

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        return self.scorer(self.softmax(masks))
