"""Tables (CSV and Markdown) of the paper's evidence: the value-loss table and curve, method names and order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..base.io import atomic_path
from .stats import bootstrap_ci, wilcoxon_p


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
