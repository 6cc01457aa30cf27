"""What to retrain and how: the training data, initial weights, trainer and engine settings in one object.

Every consumer that retrains sub-models on coalitions of the training set (the utility table, the
value-loss removal experiment, the baselines' engine utility) takes a :class:`Retrainer` instead of the
same six arguments, and asks it for the sub-models' softmax on some probe images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .training import TrainerSpec, predict_proba, train_submodels


@dataclass(frozen=True, eq=False)
class Retrainer:
    """Sub-models trained from ``init`` on coalitions of ``(x_train, y_train)`` by the batched engine.

    spec: the trainer; init: the initial weights every sub-model starts from; x_train: float32
    ``[n, C, H, W]``; y_train: int64 ``[n]``; seed: the engine seed (with the coalition, it fixes each
    sub-model's batch order); device: ``"auto"``, ``"cpu"`` or ``"cuda"``; chunk_size: coalitions trained
    together (None: from a memory budget). The arrays are not copied; do not modify them.
    """

    spec: TrainerSpec
    init: dict[str, torch.Tensor]
    x_train: np.ndarray
    y_train: np.ndarray
    seed: int
    device: str = "auto"
    chunk_size: int | None = None

    @property
    def n(self) -> int:
        """Number of training points (players)."""
        return len(self.y_train)

    def softmax(self, masks: np.ndarray, probes: np.ndarray, *, progress: bool = False) -> np.ndarray:
        """Softmax of each coalition's sub-model on the probes: ``masks [k, n]``, ``probes [P, C, H, W]`` ->
        float32 ``[k, P, m]`` (:func:`~fastdatashapley.engine.training.train_submodels`)."""
        return train_submodels(self.spec, self.init, self.x_train, self.y_train, masks, probes, seed=self.seed,
                               chunk_size=self.chunk_size, device=self.device, progress=progress)

    def full(self, probes: np.ndarray) -> np.ndarray:
        """Softmax ``[P, m]`` of the sub-model trained on every point (the all-ones coalition)."""
        return self.softmax(np.ones((1, self.n), bool), probes)[0]

    def null(self, probes: np.ndarray) -> np.ndarray:
        """Softmax ``[P, m]`` of the initial weights, never trained (the empty coalition's model)."""
        return predict_proba(self.spec, self.init, probes)
