"""Tables (CSV and Markdown) and figures (PNG and PDF) for the paper's evidence."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .io import atomic_path

#: Figure formats :func:`save_figure` writes, chosen by the file's suffix.
FIGURE_FORMATS = ("png", "pdf", "svg")


def method_key(name: str, order: Sequence[str] = ()) -> tuple[int, str]:
    """Sort key of a method label (``fds`` or ``tmc/global``): the base names in ``order`` first (the
    method registry's order, which the workflow passes in), then the rest alphabetically."""
    base = name.split("/")[0]
    return (order.index(base) if base in order else len(order), name)


def method_label(scope: str, method: str, explainers: Sequence[str]) -> str:
    """A method's name in the tables: an explainer's own name, else ``<method>/<scope>``."""
    return method if scope == "per_sample" and method in explainers else f"{method}/{scope}"


def value_loss_tables(losses: Mapping[str, tuple[np.ndarray, np.ndarray]], etas: Sequence[float],
                      order: Sequence[str] = (), *, reference: str = "fds", seed: int = 0,
                      n_boot: int = 2000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The value-loss curve and table from each method's removal losses.

    ``losses[label] = (fractions [F], loss [T, F])``: the cross-entropy of each of the T test samples after
    removing each fraction. Returns ``(curve, table)``: the curve has one row per method and fraction with
    ``mean, std, n_test`` (std over test samples, ddof 0); the table keeps the rows at ``etas`` and adds the 95 %
    bootstrap CI of the mean over test samples (seeded by ``seed``) and ``p_vs_<reference>``, the two-sided
    paired Wilcoxon signed-rank p-value of the reference method against this one at that eta (NaN for the
    reference itself, or when it was not run).
    """
    from .metrics.stats import bootstrap_ci, wilcoxon_p

    def at(label: str, fraction: float) -> np.ndarray | None:
        fractions, loss = losses[label]
        hit = np.flatnonzero(np.isclose(np.asarray(fractions, float), fraction))
        return np.asarray(loss, float)[:, hit[0]] if hit.size else None

    rows = [{"method": label, "eta": round(float(f), 4), "mean": col.mean(), "std": col.std(), "n_test": len(col)}
            for label, (fractions, loss) in losses.items() for f, col in zip(fractions, np.asarray(loss, float).T)]
    curve = pd.DataFrame(rows, columns=["method", "eta", "mean", "std", "n_test"])
    curve = curve.sort_values(["method", "eta"], key=lambda c: c.map(lambda m: method_key(m, order))
                              if c.name == "method" else c).reset_index(drop=True)
    wanted = {round(float(e), 4) for e in etas}
    table = curve[curve["eta"].isin(wanted)].reset_index(drop=True)
    cis = [bootstrap_ci(at(m, e), n_boot=n_boot, seed=seed)[1:] for m, e in zip(table["method"], table["eta"])]
    table.insert(4, "ci_low", [c[0] for c in cis])
    table.insert(5, "ci_high", [c[1] for c in cis])
    p_values = []
    for m, e in zip(table["method"], table["eta"]):
        ref = at(reference, e) if reference in losses and m != reference else None
        p_values.append(wilcoxon_p(ref, at(m, e)) if ref is not None else float("nan"))
    table[f"p_vs_{reference}"] = p_values
    return curve, table


def write_table(frame: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike | None = None,
                notes: Sequence[str] = ()) -> None:
    """Write ``frame`` as CSV (and as a Markdown table, floats to 3 decimals, followed by ``notes`` as a bulleted
    list), atomically."""
    with atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    if md_path is not None:
        bullets = "".join(f"- {note}\n" for note in notes)
        with atomic_path(md_path) as tmp:
            Path(tmp).write_text(to_markdown(frame) + "\n" + (f"\n{bullets}" if bullets else ""))


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency): floats to 3 decimals, those below 5e-4 in e-notation."""
    def cell(v) -> str:
        if not isinstance(v, (float, np.floating)):
            return str(v)
        return f"{v:.1e}" if 0 < abs(v) < 5e-4 else f"{v:.3f}"  # small p-values keep their size

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


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` to ``path`` atomically, in the format its suffix names (one of :data:`FIGURE_FORMATS`)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        names = ", ".join(f".{f}" for f in FIGURE_FORMATS[:-1]) + f" or .{FIGURE_FORMATS[-1]}"
        raise ValueError(f"figure file {path} must end in {names}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")


def _savefig(fig, stem: str | os.PathLike) -> None:
    """Save ``fig`` to ``stem.png`` and ``stem.pdf`` atomically."""
    for ext in (".png", ".pdf"):
        save_figure(fig, f"{stem}{ext}")


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
        _savefig(fig, stem)
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
