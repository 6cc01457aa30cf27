"""Scopes, and the one scorer that turns a sub-model's per-label outputs into a baseline's utility.

A baseline values in one of two scopes:

* ``global``: the utility is the accuracy on the whole test set, as the paper ran the baselines; one value vector
  ``[n]`` serves every test sample.
* ``per_sample``: the utility is the sub-model's per-label output on each test sample, ``[T, m]``; one retrained
  model serves all test samples at once, so the values ``[n, T, m]`` cost no more retraining.

:class:`Scorer` is chosen once from the scope and maps outputs ``[k, T, m]`` (softmax, or any score whose largest
label is the prediction) to ``[k]`` or ``[k, T, m]``. Accuracy splits ties at the top evenly, so an all-equal
output (an empty kernel-ridge fit) counts 1/m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Scopes of baseline values: one vector against test accuracy, or per test sample and label.
GLOBAL, PER_SAMPLE = "global", "per_sample"
SCOPES = (GLOBAL, PER_SAMPLE)


def check_scope(scope: str) -> str:
    """``scope`` if it is one of :data:`SCOPES`; ValueError naming it otherwise."""
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r} is unknown; choose one of {', '.join(SCOPES)}")
    return scope


def top_share(outputs: np.ndarray) -> np.ndarray:
    """Each label's share of the prediction ``[..., m]`` float64: 1 for the unique largest of ``outputs [..., m]``,
    1/t for each of t labels tied at the top, else 0."""
    outputs = np.asarray(outputs)
    top = outputs == outputs.max(axis=-1, keepdims=True)
    return top / top.sum(axis=-1, keepdims=True)


def correct(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Credit for a correct prediction ``[k, T]``: :func:`top_share` of ``outputs [k, T, m]`` at ``labels [T]``."""
    outputs = np.asarray(outputs)
    return top_share(outputs)[:, np.arange(outputs.shape[1]), np.asarray(labels)]


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Test accuracy ``[k]`` of ``outputs [k, T, m]`` against ``labels [T]`` (ties split evenly)."""
    return correct(outputs, labels).mean(axis=1)


@dataclass(frozen=True)
class Scorer:
    """The utility of a scope: ``per_sample`` keeps the outputs ``[k, T, m]``; ``global`` takes their accuracy
    ``[k]`` against ``labels [T]``."""

    scope: str
    labels: np.ndarray

    def __post_init__(self) -> None:
        check_scope(self.scope)

    def __call__(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs) if self.scope == PER_SAMPLE else accuracy(outputs, self.labels)
