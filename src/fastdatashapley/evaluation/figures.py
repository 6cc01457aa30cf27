"""Figures (PNG and PDF): value loss (paper Figure 4), top contributors (Figures 5, 6), accuracy against exact
values, mislabel detection curves and a score against the retraining budget.

matplotlib is imported inside each function (Agg backend), so importing this module costs nothing. A method has one
colour and line style (:func:`method_style`) in every figure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..base.io import atomic_path
from .tables import method_key

#: Figure formats :func:`save_figure` writes, chosen by the file's suffix.
FIGURE_FORMATS = ("png", "pdf", "svg")
#: savefig metadata without the creation time, so a figure's bytes depend on its content only (a resumed run's
#: figures are bit-identical to an uninterrupted run's).
_NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}
BUDGET_COLUMNS = ("method", "retrainings", "mean", "ci_low", "ci_high")


def pyplot():
    """matplotlib's pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (one of :data:`FIGURE_FORMATS`)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        names = ", ".join(f".{f}" for f in FIGURE_FORMATS[:-1]) + f" or .{FIGURE_FORMATS[-1]}"
        raise ValueError(f"figure file {path} must end in {names}")
    import matplotlib

    # svg.hashsalt: fixed ids for the SVG's clip paths and markers instead of random ones
    with atomic_path(path) as tmp, matplotlib.rc_context({"svg.hashsalt": "fastdatashapley"}):
        fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight", metadata=_NO_DATE.get(fmt))


def save_figures(fig, stem: str | os.PathLike) -> None:
    """Save ``fig`` to ``stem.png`` and ``stem.pdf`` atomically."""
    for ext in (".png", ".pdf"):
        save_figure(fig, f"{stem}{ext}")


def method_style(method: str, order: Sequence[str]) -> dict:
    """Line style of a method: one colour per base method, the line by kind (explainer solid and thick,
    per-sample baseline dashed, global baseline dotted)."""
    base, _, scope = method.partition("/")
    palette = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9"]  # the default cycle without its grey
    colours = dict(zip([m for m in order if m != "random"][:9], palette)) | {"random": "0.45"}
    style = {"color": colours.get(base, "k"), "marker": "o", "ms": 3, "lw": 1.3}
    if not scope:
        return style | {"ls": "-", "lw": 2.2}
    return style | {"ls": "--" if scope == "per_sample" else ":"}


def plot_value_loss(frame: pd.DataFrame, stem: str | os.PathLike, order: Sequence[str] = (), title: str = "") -> None:
    """Figure 4: H_eta against the removed fraction, one line per method with a +-std band.

    ``frame`` has columns ``method, eta, mean, std``; ``order`` is the methods' display order (colours follow
    it). With global and per-sample baselines, two panels share the y axis: the explainers against the
    per-sample baselines, and against the global ones.
    """
    plt = pyplot()

    methods = sorted(frame["method"].unique(), key=lambda m: method_key(m, order))
    explainers = [m for m in methods if "/" not in m]
    panels = [(scope, explainers + [m for m in methods if m.endswith("/" + scope)]) for scope in ("per_sample", "global")]
    panels = [(scope, ms) for scope, ms in panels if len(ms) > len(explainers)] or [("all", methods)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.8), sharey=True, squeeze=False)
    for ax, (scope, group) in zip(axes[0], panels):
        for method in group:
            rows = frame[frame["method"] == method].sort_values("eta")
            eta = rows["eta"].to_numpy() * 100
            style = method_style(method, order)
            ax.plot(eta, rows["mean"], label=method, **style)
            ax.fill_between(eta, rows["mean"] - rows["std"], rows["mean"] + rows["std"], color=style["color"], alpha=0.07)
        ax.set_xlabel("training data removed, most valuable first (%)")
        ax.set_title({"per_sample": "explainers vs per-sample baselines", "global": "explainers vs global baselines"}.get(scope, ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    axes[0, 0].set_ylabel("cross-entropy on the test sample, H (nats)")
    fig.suptitle(title or "Value loss: larger means the removed data mattered more (bands: +-1 std over test samples)")
    save_figures(fig, stem)
    plt.close(fig)


def plot_accuracy_vs_exact(frame: pd.DataFrame, stem: str | os.PathLike, order: Sequence[str] = ()) -> None:
    """Bars of Pearson, Spearman and relative L2 error against exact Shapley values, per method and split.

    ``frame`` has columns ``method, split, pearson, spearman, rel_l2``.
    """
    plt = pyplot()

    methods = sorted(frame["method"].unique(), key=lambda m: method_key(m, order))
    splits = [s for s in ("unseen", "seen") if s in set(frame["split"])]
    x, width = np.arange(len(methods)), 0.8 / len(splits)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, col, name in zip(axes, ("pearson", "spearman", "rel_l2"), ("Pearson r (higher is better)",
                                                                      "Spearman rho (higher is better)",
                                                                      "relative L2 error (lower is better)")):
        for k, split in enumerate(splits):
            rows = frame[frame["split"] == split].set_index("method").reindex(methods)
            ax.bar(x + (k - (len(splits) - 1) / 2) * width, rows[col], width, color=("C0", "C1")[k],
                   label=f"{split} test samples")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(x, methods)
        ax.grid(axis="y", alpha=0.3)
    for ax, col in zip(axes[:2], ("pearson", "spearman")):
        ax.set_ylim(min(0.0, frame[col].min() - 0.05), 1.0)
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Estimated vs exact Shapley values, mean over test samples (seen or unseen in explainer training)")
    fig.tight_layout()
    save_figures(fig, stem)
    plt.close(fig)


def plot_top_contributors(
    x_test: np.ndarray,
    y_test: np.ndarray,
    predicted: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    values: np.ndarray,
    stem: str | os.PathLike | None = None,
    top: int = 10,
    title: str = "",
    class_names: Sequence[str] | None = None,
):
    """Figures 5 and 6: each test image (a row) beside its ``top`` most valuable training images.

    x_test ``[T, C, H, W]`` and x_train ``[n, C, H, W]`` in [0, 1]; y_test ``[T]`` the label each row explains;
    predicted ``[T]``; y_train ``[n]``; values ``[n, T]`` (each test image's values for its label). A training
    image is titled with its index, label and value and framed green (value >= 0) or grey (< 0); equal values
    keep the lower index first. With ``stem``, writes ``stem.png`` and ``stem.pdf``. Returns the matplotlib
    ``Figure``, made outside pyplot (nothing to close); :func:`save_figure` writes it to one file of any
    format in :data:`FIGURE_FORMATS`.
    """
    from matplotlib.figure import Figure

    values = np.asarray(values)
    t, k = len(x_test), min(top, len(x_train))
    name = (lambda c: class_names[c]) if class_names else str
    fig = Figure(figsize=(1.3 * (k + 1), 0.45 + 1.7 * t))
    axes = fig.subplots(t, k + 1, squeeze=False)
    for row in range(t):
        head = f"test image\nlabel {name(y_test[row])}\npred {name(predicted[row])}"
        _show(axes[row, 0], x_test[row], head, "tab:red")
        for col, i in enumerate(np.argsort(-values[:, row], kind="stable")[:k], start=1):
            v = values[i, row]
            text = f"#{i} y={name(y_train[i])}\nv={v:+.3g}"
            _show(axes[row, col], x_train[i], text, "tab:green" if v >= 0 else "tab:gray")
    fig.suptitle(title or f"Top-{k} most valuable training images per test image", fontsize=9)
    fig.tight_layout()
    if stem is not None:
        save_figures(fig, stem)
    return fig


def _show(ax, image: np.ndarray, text: str, colour: str) -> None:
    """``image [C, H, W]`` in [0, 1] (grey for one channel) on ``ax``, titled ``text`` and framed in ``colour``."""
    img = np.transpose(np.clip(image, 0, 1), (1, 2, 0))
    grey = img.shape[2] == 1
    ax.imshow(img[..., 0] if grey else img, cmap="gray" if grey else None, vmin=0, vmax=1)
    ax.set_title(text, fontsize=7, color=colour)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(1.5)


def plot_detection_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], stem: str | os.PathLike,
                          order: Sequence[str] = (), title: str = "") -> None:
    """Fraction of flipped labels found against fraction of training points inspected (lowest value first),
    one line per method (``curves[method] = (inspected [n+1], found [n+1])``, see
    ``mislabel.detection_curve``), the diagonal being random inspection. Written to ``stem.png`` and
    ``stem.pdf``."""
    if not curves:
        raise ValueError("curves is empty: nothing to plot")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot([0, 100], [0, 100], color="0.6", ls="--", lw=1, label="random inspection (expected)")
    for method in sorted(curves, key=lambda m: method_key(m, order)):
        x, y = (np.asarray(a, dtype=float) for a in curves[method])
        ax.plot(100 * x, 100 * y, label=method, **(method_style(method, order) | {"marker": None}))
    ax.set(xlim=(0, 100), ylim=(0, 101), xlabel="training points inspected, lowest value first (%)",
           ylabel="flipped labels found (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title(title or "Mislabel detection: higher and further left is better", fontsize=10)
    save_figures(fig, stem)
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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for method in sorted(frame["method"].unique(), key=lambda m: method_key(m, order)):
        rows = frame[frame["method"] == method].sort_values("retrainings")
        mean = rows["mean"].to_numpy(dtype=float)
        err = np.vstack([mean - rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float) - mean])
        ax.errorbar(rows["retrainings"], mean, yerr=np.nan_to_num(err), capsize=3, label=method,
                    **method_style(method, order))
    ax.set_xscale("log")
    # Ticks at the budgets (or the retraining counts), written out: log-axis minor labels overlap.
    ticks = sorted(frame["budget" if "budget" in frame.columns else "retrainings"].unique())
    ax.set_xticks(ticks, [f"{int(t):,}" for t in ticks])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set(xlabel="retrainings (log scale)", ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    ax.set_title(title or "Score against retraining budget (bars: confidence interval)", fontsize=10)
    save_figures(fig, stem)
    plt.close(fig)
