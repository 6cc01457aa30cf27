"""What every valuation method returns: the values, what they cost, and their uncertainty where it is known."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..base.io import save_values


@dataclass
class ValuationResult:
    """The values of one method in one scope, with their cost and uncertainty.

    values: float64 ``[n]`` (global: one vector against test accuracy) or ``[n, T, m]`` (per sample: training
    point i's value for test sample t and label c). retrained: sub-models retrained to compute them (0 for methods
    that retrain nothing). std: standard errors of ``values`` (same shape), where the estimator has them.
    counts: the estimator's own counts (for example ``{"permutations": 100, "evaluations": 9901}``). info: anything
    else the method reports (an explainer's epochs and validation loss). :meth:`meta` is what a values file stores
    beside the values.
    """

    values: np.ndarray
    retrained: int = 0
    std: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.ndim not in (1, 3):
            raise ValueError(f"values must be [n] or [n, T, m], got shape {list(self.values.shape)}")
        if self.std is not None and np.shape(self.std) != self.values.shape:
            raise ValueError(f"std has shape {list(np.shape(self.std))}, values {list(self.values.shape)}")
        self.retrained = int(self.retrained)

    @classmethod
    def of(cls, returned: Any) -> ValuationResult:
        """A method's return value as a result: a :class:`ValuationResult`, or a plugin's ``(values, retrained)``."""
        if isinstance(returned, cls):
            return returned
        if isinstance(returned, tuple) and len(returned) == 2:
            return cls(returned[0], returned[1])
        raise TypeError(f"a method must return a ValuationResult or (values, retrained), got {type(returned).__name__}")

    def meta(self, **context: Any) -> dict[str, Any]:
        """JSON-able metadata: ``context`` (method, scope, settings, seed ...), then the cost, counts and info."""
        out = {**context, "retrained": self.retrained, **self.info}
        if self.counts:
            out["counts"] = dict(self.counts)
        return out

    def save(self, path: str | os.PathLike, **context: Any) -> None:
        """Write the values (and ``std``) with :meth:`meta` as a values file, atomically (:func:`~fastdatashapley.base.io.save_values`)."""
        save_values(path, self.values, self.meta(**context), std=self.std)
