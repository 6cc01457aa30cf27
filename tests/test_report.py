"""Tables and figures."""

import numpy as np
import pandas as pd
import pytest

from fastdatashapley.evaluation.tables import benchmark_seconds, method_key, to_markdown, value_loss_tables, write_table
from fastdatashapley.evaluation.figures import (FIGURE_FORMATS, plot_accuracy_vs_exact, plot_top_contributors,
                                                plot_value_loss, pyplot, save_figure)


def test_tables_round_trip(tmp_path):
    frame = pd.DataFrame({"method": ["fds", "loo"], "eta": [0.1, 0.1], "mean": [1.23456, 0.5], "std": [0.1, 0.2]})
    write_table(frame, tmp_path / "t.csv", tmp_path / "t.md")
    assert pd.read_csv(tmp_path / "t.csv").equals(frame)
    md = (tmp_path / "t.md").read_text().splitlines()
    assert md[0] == "| method | eta | mean | std |" and "1.235" in md[2]
    assert to_markdown(frame).count("\n") == 3
    assert to_markdown(pd.DataFrame({"p": [3.2e-7, 0.0, 0.04]})).splitlines()[2:] == ["| 3.2e-07 |", "| 0.000 |",
                                                                                     "| 0.040 |"]


def test_benchmark_seconds_sums_and_names_bad_files(tmp_path):
    for i, s in enumerate([1.5, 2.25]):
        (tmp_path / f"b{i}.tsv").write_text(f"s\th:m:s\tmax_rss\n{s}\t0:00:01\t10\n")
    assert benchmark_seconds([tmp_path / "b0.tsv", tmp_path / "b1.tsv"]) == pytest.approx(3.75)
    (tmp_path / "bad.tsv").write_text("nothing here\n")
    with pytest.raises(ValueError, match="bad.tsv"):
        benchmark_seconds([tmp_path / "bad.tsv"])


def test_method_order_follows_the_registry():
    from fastdatashapley.methods import METHODS

    order = METHODS.names()
    labels = ["random/global", "loo/per_sample", "fds", "zzz", "gfds+", "tmc/global"]
    assert sorted(labels, key=lambda m: method_key(m, order)) == ["fds", "gfds+", "loo/per_sample", "tmc/global",
                                                                   "random/global", "zzz"]
    assert sorted(["b", "a"], key=method_key) == ["a", "b"]  # without an order: alphabetical


def test_figures_are_written(tmp_path):
    rows = [{"method": m, "eta": e, "mean": e * k, "std": 0.1} for k, m in enumerate(["fds", "random"], 1) for e in (0.0, 0.1, 0.2)]
    plot_value_loss(pd.DataFrame(rows), tmp_path / "curve")
    acc = pd.DataFrame({"method": ["fds", "kernelshap"], "split": ["unseen", "seen"], "pearson": [0.9, 0.8], "spearman": [0.85, 0.7], "rel_l2": [0.3, 0.5]})
    plot_accuracy_vs_exact(acc, tmp_path / "acc")
    rng = np.random.default_rng(0)
    plot_top_contributors(rng.random((2, 1, 8, 8)), np.array([1, 2]), np.array([1, 3]), rng.random((12, 1, 8, 8)),
                          np.arange(12) % 10, rng.normal(size=(12, 2)), tmp_path / "grid", top=4)
    for stem in ("curve", "acc", "grid"):
        for ext in ("png", "pdf"):
            path = tmp_path / f"{stem}.{ext}"
            assert path.stat().st_size > 1000
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figure_gives_the_same_bytes_every_time(tmp_path, monkeypatch):
    """No creation date and no random SVG ids: a rerun (or a resumed run) rewrites its figures bit for bit."""
    fig, ax = pyplot().subplots()
    ax.plot([0, 1, 2], [1, 0, 2], label="fds")
    ax.legend()
    for fmt in FIGURE_FORMATS:
        for name, day in (("a", 0), ("b", 1)):  # a date, if one were written, would differ (matplotlib reads it)
            monkeypatch.setenv("SOURCE_DATE_EPOCH", str(86400 * day))
            save_figure(fig, tmp_path / f"{name}.{fmt}")
        assert (tmp_path / f"a.{fmt}").read_bytes() == (tmp_path / f"b.{fmt}").read_bytes(), fmt
    pyplot().close(fig)


def test_value_loss_table_has_bootstrap_cis_and_paired_wilcoxon_p_values():
    rng = np.random.default_rng(0)
    fractions = np.array([0.0, 0.1, 0.2])
    fds = rng.normal(5.0, 1.0, size=(30, 3))
    losses = {"fds": (fractions, fds), "random/global": (fractions, fds - 2.0 - rng.random((30, 3))),
              "tmc/per_sample": (fractions, fds + rng.normal(0, 1e-3, (30, 3)))}
    curve, table = value_loss_tables(losses, [0.1, 0.2], ["fds", "tmc", "random"], seed=1)
    assert len(curve) == 9 and list(curve["method"].unique()) == ["fds", "tmc/per_sample", "random/global"]
    assert list(table.columns) == ["method", "eta", "mean", "std", "ci_low", "ci_high", "n_test", "p_vs_fds"]
    assert len(table) == 6 and set(table["eta"]) == {0.1, 0.2}
    assert (table["ci_low"] < table["mean"]).all() and (table["mean"] < table["ci_high"]).all()
    row = table.set_index(["method", "eta"])
    assert np.isnan(row.loc[("fds", 0.1), "p_vs_fds"])
    assert row.loc[("random/global", 0.1), "p_vs_fds"] < 1e-5  # every pair differs in the same direction
    assert row.loc[("tmc/per_sample", 0.1), "p_vs_fds"] > 0.01  # noise-level differences
    half = table["ci_high"] - table["ci_low"]
    assert np.allclose(half, 2 * 1.96 * table["std"] / np.sqrt(30), rtol=0.35)  # about the normal-theory width
    again = value_loss_tables(losses, [0.1, 0.2], ["fds", "tmc", "random"], seed=1)[1]
    assert again.equals(table)  # the bootstrap is seeded
