"""The one permutation walk: marginal contributions along permutations, many permutations at a time.

:func:`walk` is the driver every permutation estimator uses (TMC, CS-Shapley, FreeShap): it draws permutations in
batches, asks a *step factory* for each batch's step, walks the batch (:func:`walk_permutations`, with
truncation) and asks a :class:`~fastdatashapley.games.stopping.StopRule` after each batch. A step returns the
utilities of the prefixes at one position: :class:`PrefixUtility` evaluates a utility on them; FreeShap's step grows
kernel-ridge fits; CS-Shapley's serves prefixes it evaluated at once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .stopping import NEVER, StopRule
from .utility import Utility, evaluate

#: ``step(rows, j) -> [len(rows), *out]``: utilities of the prefixes ``orders[rows, :j + 1]``.
Step = Callable[[np.ndarray, int], np.ndarray]


def walk(
    draw: Callable[[int], np.ndarray],
    make_step: Callable[[np.ndarray], tuple[Step, np.ndarray]],
    total: np.ndarray,
    stop: StopRule,
    *,
    close: Callable[[np.ndarray], np.ndarray] | None = None,
    patience: int = 0,
    batch: int,
    bar=None,
) -> int:
    """Walk permutations until ``stop`` says so, adding marginal contributions into ``total [n, *out]``.

    ``draw(b) -> orders [b, n]`` gives the next b permutations; ``make_step(orders) -> (step, start)`` the
    batch's step and the utilities ``start [b, *out]`` of its empty prefixes. Batches hold at most ``batch``
    permutations and end where ``stop`` must be asked (:meth:`~fastdatashapley.games.stopping.StopRule.next_check`).
    ``close``/``patience``: the truncation test (:func:`walk_permutations`). ``bar``: a tqdm bar over
    permutations (:func:`permutation_bar`), advanced position by position. Returns the permutations walked.
    """
    stop.reset()
    n = total.shape[0]
    done = 0
    while True:
        check = stop.next_check(done)
        if check >= NEVER:
            raise ValueError("the stop rule can never stop the walk; combine it with a MaxPermutations count")
        b = min(batch, check - done)
        orders = draw(b)
        step, start = make_step(orders)
        walk_permutations(orders, step if bar is None else with_progress(step, bar, b / n), start, close, patience,
                          total)
        done += b
        if bar is not None:
            bar.n = done  # truncation may have ended the walk early
            bar.refresh()
        if stop(total, done):
            return done


def walk_permutations(
    orders: np.ndarray,
    step: Step,
    start: np.ndarray,
    close: Callable[[np.ndarray], np.ndarray] | None,
    patience: int,
    total: np.ndarray,
) -> None:
    """Walk the permutations ``orders [b, n]`` together, adding marginal contributions into ``total [n, *out]``.

    At position j, ``step(rows, j)`` returns the utilities ``[len(rows), *out]`` of the prefixes
    ``orders[rows, :j + 1]`` for the still-active permutations ``rows`` (ascending); player ``orders[r, j]``
    gets ``v - prev`` (``prev``: the row's previous utility, ``start [b, *out]`` for the empty prefix).
    Truncation: a permutation stops once ``close(values [k, *out]) -> bool [k]`` has held for more than
    ``patience`` consecutive positions, and its remaining players get 0. ``close=None`` never truncates.
    """
    b, n = orders.shape
    prev = np.array(start)
    streak = np.zeros(b, dtype=np.int64)
    active = np.ones(b, dtype=bool)
    for j in range(n):
        rows = np.flatnonzero(active)
        if len(rows) == 0:
            break
        v = step(rows, j)
        np.add.at(total, orders[rows, j], v - prev[rows])
        prev[rows] = v
        if close is not None:
            streak[rows] = np.where(close(v), streak[rows] + 1, 0)
            active[rows[streak[rows] > patience]] = False


class PrefixUtility:
    """The ``step`` of :func:`walk_permutations` for a utility: ``[len(rows), O]`` float64, O = prod(out).

    Evaluates the active prefixes in calls of ``batch_size`` masks and returns v(D) ``grand [*out]`` at the
    last position without evaluating it; ``evaluations`` counts the utility rows evaluated.
    ``positions``: prefix positions evaluated per call. With 1, step j evaluates the j-th prefix of the active
    permutations only. With L > 1, step j (when not already held) evaluates positions j .. j + L - 1 of the
    active permutations in one call and serves the next L - 1 steps from it; the prefixes of a permutation
    truncated inside the block are evaluated but never used (they are counted). The walk, and so the values,
    are the same whenever the utility of a coalition does not depend on which coalitions share its call.
    """

    def __init__(self, utility: Utility, orders: np.ndarray, grand: np.ndarray, batch_size: int, positions: int = 1):
        self.utility, self.orders, self.grand, self.batch_size = utility, orders, grand, batch_size
        self.positions = positions
        self.rank = np.empty_like(orders)  # rank[r, i]: position of player i in permutation r
        np.put_along_axis(self.rank, orders, np.arange(orders.shape[1])[None], axis=1)
        self.evaluations = 0
        self.held: tuple[int, np.ndarray, np.ndarray] | None = None  # (first position, rows, values [L, rows, O])

    def __call__(self, rows: np.ndarray, j: int) -> np.ndarray:
        last = self.orders.shape[1] - 1
        if j == last:
            return np.repeat(self.grand.reshape(-1)[None], len(rows), axis=0)
        if self.held is None or j >= self.held[0] + len(self.held[2]):
            stop = min(j + self.positions, last)
            masks = self.rank[None, rows] <= np.arange(j, stop)[:, None, None]  # [L, rows, n]
            self.evaluations += masks.shape[0] * len(rows)
            v = evaluate(self.utility, masks.reshape(-1, masks.shape[2]), self.batch_size, self.grand.shape)
            self.held = (j, rows, v.reshape(masks.shape[0], len(rows), -1))
        first, held_rows, values = self.held
        return values[j - first][np.searchsorted(held_rows, rows)]  # rows only shrink inside a block


def permutation_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar over ``total`` permutations that shows fractions (:func:`with_progress` advances it per position)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="permutation", disable=not enabled,
                bar_format="{l_bar}{bar}| {n:.1f}/{total} [{elapsed}<{remaining}]")


def with_progress(step: Callable[[np.ndarray, int], np.ndarray], bar, per_position: float
                  ) -> Callable[[np.ndarray, int], np.ndarray]:
    """``step`` of :func:`walk_permutations` that also advances the tqdm ``bar`` by ``per_position`` per position
    (the batch's permutations / n), so that a bar over permutations moves while a batch is walked."""

    def advance(rows: np.ndarray, j: int) -> np.ndarray:
        out = step(rows, j)
        bar.update(per_position)
        return out

    return advance
