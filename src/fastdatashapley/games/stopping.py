"""When permutation sampling stops: truncation of one permutation, and stopping rules for the sampling.

* :class:`Truncation` (Ghorbani & Zou 2019) ends one permutation early: once its prefix utility has been within
  ``tolerance`` of the full-data utility v(D) for more than ``patience`` consecutive positions, its remaining
  players get 0 for that permutation.
* A :class:`StopRule` ends the sampling of permutations. Rules combine with ``|`` (stop when either says so) and
  ``&`` (stop when both do): :class:`MaxPermutations` (a count) and :class:`RelativeChange` (the running mean has
  settled, checked every ``window`` permutations). The walk driver (:func:`~fastdatashapley.games.walk.walk`)
  never lets a batch of permutations straddle a count at which a rule must be asked (:meth:`StopRule.next_check`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..base.checks import check_count
from .utility import Score

#: A :meth:`StopRule.next_check` that never comes: the rule's answer cannot change any more.
NEVER = 2**62
#: Truncation patience of the paper (Ghorbani & Zou): more than 5 consecutive positions within tolerance.
PATIENCE = 5


@dataclass(frozen=True)
class Truncation:
    """Truncate a permutation once its prefix utility stays within ``tolerance`` of v(D) for more than
    ``patience`` consecutive positions.

    "Within tolerance" (:meth:`rule`): with ``score=None``, every output is within ``tolerance * max|v(D)|`` of its
    full-data value (for a scalar utility, the paper's relative 1 %); with ``score`` (``values [k, *out] -> [k]``,
    e.g. accuracy from softmax), the scalar score is within ``tolerance * |score(v(D))|`` of the full-data score.
    Validated on construction.
    """

    tolerance: float = 0.01
    patience: int = PATIENCE
    score: Score | None = None

    def __post_init__(self) -> None:
        t = self.tolerance
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not (
                np.isfinite(t) and t >= 0):
            raise ValueError(f"tolerance must be a finite number >= 0, got {t!r}")
        check_count(self.patience, "patience", 0)

    def rule(self, grand: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The test ``values [k, *out] -> bool [k]``: is each prefix utility within tolerance of ``grand [*out]``."""
        tolerance, score = self.tolerance, self.score
        if score is None:
            scale = tolerance * float(np.abs(grand).max())

            def close(values: np.ndarray) -> np.ndarray:
                return (np.abs(values - grand[None]).reshape(len(values), -1) <= scale).all(1)

            return close
        target = np.asarray(score(grand[None]), dtype=np.float64).reshape(-1)
        if target.shape != (1,) or not np.isfinite(target).all():
            raise ValueError(f"score must map values [k, *out] to finite [k]; it gave {target!r} for the full data")

        def close_score(values: np.ndarray) -> np.ndarray:
            got = np.asarray(score(values), dtype=np.float64)
            if got.shape != (len(values),):
                raise ValueError(
                    f"score returned shape {list(got.shape)} for {len(values)} rows; expected [{len(values)}]")
            return np.abs(got - target[0]) <= tolerance * abs(target[0])

        return close_score


class StopRule:
    """Decides, after each batch of permutations, whether sampling is done.

    ``rule(total, done)``: ``total [n, *out]`` the summed marginal contributions of the ``done`` permutations walked
    so far; True stops. ``next_check(done)``: the permutation count (> ``done``) at which the rule must next be asked
    (a batch ends there), or :data:`NEVER`. :meth:`reset` clears any state before a new run. Combine with ``|`` and
    ``&``; a combination that can never stop is an error of the walk (a count must bound it).
    """

    def __call__(self, total: np.ndarray, done: int) -> bool:
        raise NotImplementedError

    def next_check(self, done: int) -> int:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget what earlier calls saw (a no-op for stateless rules)."""

    def __or__(self, other: StopRule) -> StopRule:
        return _Combined((self, other), any)

    def __and__(self, other: StopRule) -> StopRule:
        return _Combined((self, other), all)


@dataclass
class MaxPermutations(StopRule):
    """Stop after ``count`` permutations."""

    count: int

    def __post_init__(self) -> None:
        self.count = check_count(self.count, "n_permutations")

    def __call__(self, total: np.ndarray, done: int) -> bool:
        return done >= self.count

    def next_check(self, done: int) -> int:
        return self.count if done < self.count else NEVER


@dataclass
class RelativeChange(StopRule):
    """Stop when the running mean has settled (Ghorbani & Zou's convergence check).

    After every ``window`` permutations (100, as in the paper) the running mean ``total / done`` is compared with
    the one a window earlier; the rule fires when sum|change| / sum|mean| < ``threshold`` (0 never fires).
    """

    threshold: float = 0.05
    window: int = 100
    _snapshot: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.threshold >= 0:
            raise ValueError(f"convergence must be >= 0, got {self.threshold}")
        self.window = check_count(self.window, "window")

    def __call__(self, total: np.ndarray, done: int) -> bool:
        if done % self.window:
            return False
        running = total / done
        settled = self._snapshot is not None and _relative_change(running, self._snapshot) < self.threshold
        self._snapshot = running
        return settled

    def next_check(self, done: int) -> int:
        return (done // self.window + 1) * self.window

    def reset(self) -> None:
        self._snapshot = None


@dataclass
class _Combined(StopRule):
    """``any`` or ``all`` of several rules; every rule is asked each time, so stateful rules stay in step."""

    rules: tuple[StopRule, ...]
    how: Callable = any

    def __call__(self, total: np.ndarray, done: int) -> bool:
        return self.how([rule(total, done) for rule in self.rules])

    def next_check(self, done: int) -> int:
        return min(rule.next_check(done) for rule in self.rules)

    def reset(self) -> None:
        for rule in self.rules:
            rule.reset()


def _relative_change(now: np.ndarray, then: np.ndarray) -> float:
    """sum |now - then| / sum |now| over players and outputs (0 when both are 0)."""
    scale = float(np.abs(now).sum())
    diff = float(np.abs(now - then).sum())
    return 0.0 if diff == 0 else diff / scale if scale > 0 else np.inf
