"""Accuracy against the retraining budget: the LDS of each per-sample method at several budgets, and which
method is the more accurate at each.

A *point* is one method's values ``[n, T, m]`` for the test samples at one nominal budget, with the
retrainings it actually cost (TMC's count moves in steps of n - 1, an explainer's table holds the budget's
rows plus v(D)). Every point is scored on the same held-out LDS subsets, so the points of one budget are
compared at (about) equal retrainings. Only numpy, scipy and pandas are imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .tables import method_key
from .lds import lds_own_label, lds_summary

#: Columns of the budget-curve table, in order.
CURVE_COLUMNS = ("method", "budget", "retrainings", "mean", "ci_low", "ci_high", "n_test", "n_undefined")


@dataclass(frozen=True)
class BudgetPoint:
    """One method at one nominal ``budget``: its per-sample ``values [n, T, m]`` and the ``retrainings`` they cost."""

    method: str
    budget: int
    retrainings: int
    values: np.ndarray


def lds_curve(points: Iterable[BudgetPoint], labels: np.ndarray, masks: np.ndarray, utilities: np.ndarray,
              null: np.ndarray, *, order: Sequence[str] = (), seed: int = 0) -> pd.DataFrame:
    """The budget-curve table (:data:`CURVE_COLUMNS`): each point's mean LDS over the T test samples with its
    bootstrap CI (``lds_summary``), sorted by method (``order`` first, by base name) and budget.

    ``labels [T]`` the test samples' labels; ``masks [M, n]``, ``utilities [M, T, m]`` and ``null [T, m]`` the
    held-out LDS table's slice for the test samples (see ``lds_own_label``).
    """
    rows = []
    for p in points:
        scores = lds_own_label(p.values, labels, masks, utilities, null)
        s = lds_summary(scores, seed=seed)
        rows.append({"method": p.method, "budget": int(p.budget), "retrainings": int(p.retrainings),
                     "mean": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n_test": s["n_samples"],
                     "n_undefined": s["n_undefined"]})
    if not rows:
        raise ValueError("no budget points to score")
    rows.sort(key=lambda r: (method_key(r["method"], order), r["budget"]))
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


def _describe(row: pd.Series) -> str:
    return (f"{row['method']} (LDS {row['mean']:.3f}, 95 % CI [{row['ci_low']:.3f}, {row['ci_high']:.3f}], "
            f"{int(row['retrainings'])} retrainings)")


def budget_verdicts(frame: pd.DataFrame) -> list[str]:
    """One plain sentence per budget of a :func:`lds_curve` table: which method has the highest mean LDS, the
    runner-up, and whether their confidence intervals overlap (then the order is not settled by these test
    samples). Methods whose mean is undefined (NaN) are named as such."""
    missing = [c for c in CURVE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the columns {missing}")
    lines = []
    for budget, rows in frame.groupby("budget", sort=True):
        scored = rows[rows["mean"].notna()].sort_values("mean", ascending=False, kind="stable")
        undefined = sorted(rows.loc[rows["mean"].isna(), "method"])
        note = f"; no LDS for {', '.join(undefined)}" if undefined else ""
        if scored.empty:
            lines.append(f"budget {budget}: no method has a defined LDS{note}.")
            continue
        best = scored.iloc[0]
        if len(scored) == 1:
            lines.append(f"budget {budget}: only {_describe(best)} is scored{note}.")
            continue
        second = scored.iloc[1]
        overlap = best["ci_low"] <= second["ci_high"]
        verdict = ("their confidence intervals overlap, so these test samples do not settle the order"
                   if overlap else "their confidence intervals are disjoint")
        lines.append(f"budget {budget}: the most accurate is {_describe(best)}, ahead of {_describe(second)}; "
                     f"{verdict}{note}.")
    return lines
