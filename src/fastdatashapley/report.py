"""Tables (CSV and Markdown) and figures (PNG and PDF) for the paper's evidence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .io import atomic_path

def method_key(name: str, order: Sequence[str] = ()) -> tuple[int, str]:
    """Sort key of a method label (``fds`` or ``tmc/global``): the base names in ``order`` first (the
    method registry's order, which the workflow passes in), then the rest alphabetically."""
    base = name.split("/")[0]
    return (order.index(base) if base in order else len(order), name)


def write_table(frame: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike | None = None) -> None:
    """Write ``frame`` as CSV (and as a Markdown table, floats to 3 decimals), atomically."""
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    if md_path is not None:
        with atomic_path(md_path) as tmp:
            Path(tmp).write_text(to_markdown(frame) + "\n")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    def cell(v) -> str:
        return f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)

    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def benchmark_seconds(paths: Iterable[str | os.PathLike]) -> float:
    """Total wall time in seconds over Snakemake ``benchmark:`` files (column ``s``)."""
    total = 0.0
    for path in paths:
        try:
            total += float(pd.read_csv(path, sep="\t")["s"].sum())
        except Exception as exc:
            raise ValueError(f"cannot read benchmark file {path}: {exc}") from exc
    return total


def _savefig(fig, stem: str | os.PathLike) -> None:
    """Save ``fig`` to ``stem.png`` and ``stem.pdf`` atomically."""
    for ext in (".png", ".pdf"):
        with atomic_path(f"{stem}{ext}") as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight")


def _method_style(method: str, order: Sequence[str]) -> dict:
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted(frame["method"].unique(), key=lambda m: method_key(m, order))
    explainers = [m for m in methods if "/" not in m]
    panels = [(scope, explainers + [m for m in methods if m.endswith("/" + scope)]) for scope in ("per_sample", "global")]
    panels = [(scope, ms) for scope, ms in panels if len(ms) > len(explainers)] or [("all", methods)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.8), sharey=True, squeeze=False)
    for ax, (scope, group) in zip(axes[0], panels):
        for method in group:
            rows = frame[frame["method"] == method].sort_values("eta")
            eta = rows["eta"].to_numpy() * 100
            style = _method_style(method, order)
            ax.plot(eta, rows["mean"], label=method, **style)
            ax.fill_between(eta, rows["mean"] - rows["std"], rows["mean"] + rows["std"], color=style["color"], alpha=0.07)
        ax.set_xlabel("training data removed, most valuable first (%)")
        ax.set_title({"per_sample": "explainers vs per-sample baselines", "global": "explainers vs global baselines"}.get(scope, ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    axes[0, 0].set_ylabel("cross-entropy on the test sample, H (nats)")
    fig.suptitle(title or "Value loss: larger means the removed data mattered more (bands: +-1 std over test samples)")
    _savefig(fig, stem)
    plt.close(fig)


def plot_accuracy_vs_exact(frame: pd.DataFrame, stem: str | os.PathLike, order: Sequence[str] = ()) -> None:
    """Bars of Pearson, Spearman and relative L2 error against exact Shapley values, per method and split.

    ``frame`` has columns ``method, split, pearson, spearman, rel_l2``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    _savefig(fig, stem)
    plt.close(fig)


def plot_top_contributors(
    x_test: np.ndarray,
    y_test: np.ndarray,
    predicted: np.ndarray,
    x_train: np.ndarray,
    y_train: np.ndarray,
    values: np.ndarray,
    stem: str | os.PathLike,
    top: int = 10,
    title: str = "",
    class_names: Sequence[str] | None = None,
) -> None:
    """Figures 5 and 6: each test image (row) next to its ``top`` most valuable training images.

    x_test ``[T, C, H, W]``, y_test/predicted ``[T]``, x_train ``[n, C, H, W]``, y_train ``[n]``,
    values ``[n, T]`` (each sample's values for its own label). Titles give label, prediction and value.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = (lambda c: class_names[c]) if class_names else str
    t = len(x_test)
    fig, axes = plt.subplots(t, top + 1, figsize=(1.25 * (top + 1), 1.65 * t), squeeze=False)
    for row in range(t):
        order = np.argsort(-values[:, row], kind="stable")[:top]
        _show(axes[row, 0], x_test[row], f"test y={name(y_test[row])}\npred={name(predicted[row])}", "tab:red")
        for col, i in enumerate(order, start=1):
            _show(axes[row, col], x_train[i], f"#{i} y={name(y_train[i])}\nv={values[i, row]:.3f}")
    fig.suptitle(title or f"Top-{top} most valuable training images per test image")
    fig.tight_layout()
    _savefig(fig, stem)
    plt.close(fig)


def _show(ax, image: np.ndarray, text: str, color: str = "black") -> None:
    img = np.transpose(image, (1, 2, 0))
    ax.imshow(img[..., 0] if img.shape[2] == 1 else np.clip(img, 0, 1), cmap="gray" if img.shape[2] == 1 else None)
    ax.set_title(text, fontsize=6.5, color=color)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
