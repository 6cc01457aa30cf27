"""Figures of the yardsticks: mislabel detection curves and a score against the retraining budget.

matplotlib is imported inside each function (Agg backend), so importing this module costs nothing; colours
and line styles follow ``report``'s, so a method looks the same in every figure.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..report import _method_style, _savefig, method_key

BUDGET_COLUMNS = ("method", "retrainings", "mean", "ci_low", "ci_high")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_detection_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], stem: str | os.PathLike,
                          order: Sequence[str] = (), title: str = "") -> None:
    """Fraction of flipped labels found against fraction of training points inspected (lowest value first),
    one line per method (``curves[method] = (inspected [n+1], found [n+1])``, see
    ``mislabel.detection_curve``), the diagonal being random inspection. Written to ``stem.png`` and
    ``stem.pdf``."""
    if not curves:
        raise ValueError("curves is empty: nothing to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot([0, 100], [0, 100], color="0.6", ls="--", lw=1, label="random inspection (expected)")
    for method in sorted(curves, key=lambda m: method_key(m, order)):
        x, y = (np.asarray(a, dtype=float) for a in curves[method])
        ax.plot(100 * x, 100 * y, label=method, **(_method_style(method, order) | {"marker": None}))
    ax.set(xlim=(0, 100), ylim=(0, 101), xlabel="training points inspected, lowest value first (%)",
           ylabel="flipped labels found (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title(title or "Mislabel detection: higher and further left is better", fontsize=10)
    _savefig(fig, stem)
    plt.close(fig)


def plot_budget_curve(frame: pd.DataFrame, stem: str | os.PathLike, order: Sequence[str] = (),
                      ylabel: str = "mean LDS over test samples", title: str = "") -> None:
    """A score (LDS, AUROC, ...) against the number of retrainings (log axis), one line per method with its
    confidence interval as error bars. ``frame`` has columns ``method, retrainings, mean, ci_low, ci_high``.
    Written to ``stem.png`` and ``stem.pdf``."""
    missing = [c for c in BUDGET_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the columns {missing}")
    if frame.empty:
        raise ValueError("frame is empty: nothing to plot")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for method in sorted(frame["method"].unique(), key=lambda m: method_key(m, order)):
        rows = frame[frame["method"] == method].sort_values("retrainings")
        mean = rows["mean"].to_numpy(dtype=float)
        err = np.vstack([mean - rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float) - mean])
        ax.errorbar(rows["retrainings"], mean, yerr=np.nan_to_num(err), capsize=3, label=method,
                    **_method_style(method, order))
    ax.set_xscale("log")
    # Ticks at the budgets (or the retraining counts), written out: log-axis minor labels overlap.
    ticks = sorted(frame["budget" if "budget" in frame.columns else "retrainings"].unique())
    ax.set_xticks(ticks, [f"{int(t):,}" for t in ticks])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set(xlabel="retrainings (log scale)", ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title(title or "Score against retraining budget (bars: confidence interval)", fontsize=10)
    _savefig(fig, stem)
    plt.close(fig)
