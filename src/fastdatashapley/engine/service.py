"""The service model f_D and its null model (the shared initial weights), saved as one file."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .states import check_service_states, save_torch
from .training import TrainerSpec, init_state, predict_proba, train_models


@dataclass
class ServiceModel:
    """f_D trained on the full training set D from the seeded initial weights ``null_state``.

    It is the engine's grand-coalition sub-model, so its outputs equal the utility tables' ``grand``.
    """

    spec: TrainerSpec
    null_state: dict[str, torch.Tensor]
    state: dict[str, torch.Tensor]
    seed: int

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Softmax of f_D on images ``x [B, C, H, W]`` -> ``[B, m]``."""
        return predict_proba(self.spec, self.state, x)

    def null_proba(self, x: np.ndarray) -> np.ndarray:
        """Softmax of the untrained null model on ``x`` -> ``[B, m]`` (the empty coalition's utility)."""
        return predict_proba(self.spec, self.null_state, x)

    def save(self, path: str | os.PathLike) -> None:
        save_torch(path, {"spec": self.spec.to_dict(), "null_state": self.null_state, "state": self.state,
                          "seed": self.seed})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ServiceModel":
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            check_service_states(blob["spec"], {"state": blob["state"], "null_state": blob["null_state"]})
            return cls(TrainerSpec.from_dict(blob["spec"]), blob["null_state"], blob["state"], int(blob["seed"]))
        except Exception as exc:
            raise ValueError(f"cannot read service model file {path}: {exc}") from exc


def fit_service_model(
    spec: TrainerSpec, x: np.ndarray, y: np.ndarray, *, seed: int, device: str = "auto"
) -> ServiceModel:
    """Train f_D on all of ``x [n, C, H, W]``, ``y [n]`` through the engine (the all-ones coalition)."""
    null = init_state(spec, seed)
    full = np.ones((1, len(y)), dtype=bool)
    state = train_models(spec, null, x, y, full, seed=seed, device=device)[0]
    return ServiceModel(spec, null, state, seed)


def accuracy(model: ServiceModel, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of f_D on ``x [B, C, H, W]``, ``y [B]`` (0.0 when empty)."""
    hits = int((model.proba(x).argmax(1) == np.asarray(y)).sum())
    return hits / max(len(y), 1)
