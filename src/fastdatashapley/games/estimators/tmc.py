"""TMC-DataShapley (Ghorbani & Zou 2019): truncated Monte Carlo over permutations, walked in batches."""

from __future__ import annotations

import numpy as np

from ...base.checks import check_count, check_n
from .. import coalitions as C
from ..stopping import MaxPermutations, RelativeChange, StopRule, Truncation
from ..utility import Utility, ends, evaluate
from ..walk import PrefixUtility, permutation_bar, walk


def tmc(
    utility: Utility,
    n: int,
    n_permutations: int,
    *,
    truncation: Truncation | None = Truncation(),
    stop: StopRule | None = None,
    batch_permutations: int = 64,
    batch_size: int = 1024,
    seed: C.Seed = 0,
    return_count: bool = False,
    progress: bool = False,
    block_positions: int = 1,
):
    """Truncated Monte Carlo DataShapley: ``[n, *out]``.

    Each permutation pi adds players one at a time; player pi_j gets v(pi_1..pi_j) - v(pi_1..pi_{j-1}).
    ``truncation`` (:class:`~fastdatashapley.games.stopping.Truncation`; None: never) ends a permutation whose
    prefix utility has stayed near v(D); sampling stops after ``n_permutations`` or when ``stop`` says so (default
    :class:`~fastdatashapley.games.stopping.RelativeChange`: the running mean moved less than 5 % over the last
    100 permutations).

    Batching: ``batch_permutations`` permutations are walked together (:func:`~fastdatashapley.games.walk.walk`);
    step j evaluates the j-th prefix of every still-active permutation in one utility call (chunks of
    ``batch_size``), and truncated permutations drop out. Batches never straddle a stop check, so the result
    equals :func:`tmc_sequential` under the same seed, whatever ``batch_permutations`` is. The full coalition is
    never evaluated inside a permutation (v(D) is known). With ``return_count`` returns
    ``(values, (permutations used, utility evaluations including v(0) and v(D)))``.

    ``block_positions`` (L): evaluate L prefix positions of the active permutations per utility call
    (:class:`~fastdatashapley.games.walk.PrefixUtility`). A retraining utility pays a fixed cost per call and per
    training step, so the walk of one position at a time costs about n^2 / 2 sequential steps whatever
    ``batch_permutations`` is; with L positions a call trains L x ``batch_permutations`` sub-models together.
    Truncation decisions are unchanged; prefixes past a truncation inside a block are evaluated, counted, and
    discarded. For a utility whose value of a coalition does not depend on its call-mates the result is the same
    for every L (the batched engine's float rounding does depend on them, about 1e-7 before training amplifies it).
    """
    n = check_n(n)
    rule = MaxPermutations(n_permutations) | _check_stop(stop)
    batch_permutations = check_count(batch_permutations, "batch_permutations")
    block_positions = check_count(block_positions, "block_positions")
    rng = np.random.default_rng(seed)
    null, grand = ends(utility, n, batch_size)
    close = _flat_rule(truncation, grand)
    total = np.zeros((n, grand.size))
    steps: list[PrefixUtility] = []

    def make_step(orders: np.ndarray) -> tuple[PrefixUtility, np.ndarray]:
        steps.append(PrefixUtility(utility, orders, grand, batch_size, block_positions))
        return steps[-1], np.repeat(null.reshape(1, -1), len(orders), axis=0)

    bar = permutation_bar(n_permutations, "tmc permutations", progress)
    done = walk(lambda b: C.permutations(n, b, seed=rng), make_step, total, rule, close=close,
                patience=truncation.patience if truncation else 0, batch=batch_permutations, bar=bar)
    bar.close()
    values = (total / done).reshape(n, *grand.shape)
    return (values, (done, 2 + sum(s.evaluations for s in steps))) if return_count else values


def tmc_sequential(
    utility: Utility,
    n: int,
    n_permutations: int,
    *,
    truncation: Truncation | None = Truncation(),
    stop: StopRule | None = None,
    seed: C.Seed = 0,
    return_count: bool = False,
):
    """Reference TMC: one permutation at a time, one utility call per prefix (slow; for tests).

    Same algorithm, arguments and random stream as :func:`tmc`, written without the walk driver so that it
    checks the batched walk.
    """
    n = check_n(n)
    rule = MaxPermutations(n_permutations) | _check_stop(stop)
    rng = np.random.default_rng(seed)
    null, grand = ends(utility, n, 1)
    close = truncation.rule(grand) if truncation else None
    total = np.zeros((n, *grand.shape))
    done, evaluations = 0, 2
    rule.reset()
    while True:
        order = C.permutations(n, 1, seed=rng)[0]
        prefix = np.zeros(n, dtype=bool)
        prev, streak = null, 0
        for j, player in enumerate(order):
            prefix[player] = True
            if j < n - 1:
                v = evaluate(utility, prefix[None], 1, grand.shape)[0]
                evaluations += 1
            else:
                v = grand
            total[player] += v - prev
            prev = v
            streak = streak + 1 if close is not None and close(v[None])[0] else 0
            if truncation is not None and streak > truncation.patience:
                break
        done += 1
        if rule(total, done):
            break
    values = total / done
    return (values, (done, evaluations)) if return_count else values


def _check_stop(stop: StopRule | None) -> StopRule:
    if stop is None:
        return RelativeChange()
    if not isinstance(stop, StopRule):
        raise TypeError(f"stop must be a StopRule, got {type(stop).__name__}")
    return stop


def _flat_rule(truncation: Truncation | None, grand: np.ndarray):
    """The truncation test on the walk's flat values ``[k, O]`` (None: never truncate)."""
    if truncation is None:
        return None
    rule = truncation.rule(grand)
    return lambda v: rule(v.reshape(len(v), *grand.shape))
