"""Your own data: tables (CSV, Parquet), image folders and .npz files, written here in their real formats, read as
datasets; their one-line errors; table features standardised by D alone; and a real snakemake run on a CSV."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from workflow_helpers import ROOT, snakemake, write_config

from fastdatashapley.base.io import load_npz, read_json
from fastdatashapley.data import (
    DATASETS,
    DataNotFoundError,
    load_dataset,
    make_split,
    standardise_by_train,
)
from fastdatashapley.explainers import Explainer
from fastdatashapley.workflow.config_checks import ConfigError
from fastdatashapley.workflow.config_schema import check_workflow_config

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def frame(n: int = 12, seed: int = 0) -> pd.DataFrame:
    """A small table: three numeric features, a text column, a string label and a provider column."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.normal(50, 10, n).round(1),
        "dose": rng.integers(0, 5, n),
        "note": [f"n{i}" for i in range(n)],
        "score": rng.uniform(0, 1, n),
        "kind": np.where(np.arange(n) % 2, "dog", "cat"),
        "hospital": np.array(["north", "south", "east"])[np.arange(n) % 3],
    })


def write_csv(path, table: pd.DataFrame):
    table.to_csv(path, index=False)
    return path


# -- loaders ------------------------------------------------------------------------------------------------------


def test_a_csv_table_is_rows_of_numeric_features_with_labels_and_providers(tmp_path):
    table = frame()
    path = write_csv(tmp_path / "my data.csv", table)
    ds = load_dataset("table", path=path, label="kind", provider="hospital")
    assert ds.x.shape == (12, 1, 1, 3) and ds.x.dtype == np.float32 and ds.tabular  # note and hospital left out
    assert np.allclose(ds.x[:, 0, 0], table[["age", "dose", "score"]].to_numpy(np.float32))
    assert ds.class_names == ("cat", "dog") and np.array_equal(ds.y, np.arange(12) % 2) and ds.n_classes == 2
    assert ds.provider_names == ("east", "north", "south")
    assert [ds.provider_names[c] for c in ds.provider] == list(table["hospital"])
    assert np.array_equal(ds.train_idx, np.arange(12)) and np.array_equal(ds.eval_idx, np.arange(12))
    picked = load_dataset("table", path=path, label="kind", features=["score", "age"])
    assert np.allclose(picked.x[:, 0, 0], table[["score", "age"]].to_numpy(np.float32)) and picked.provider is None


def test_numeric_labels_sort_as_numbers(tmp_path):
    table = frame().assign(kind=[10, 2, 2, 10, 33, 2, 10, 33, 2, 10, 33, 2])
    ds = load_dataset("table", path=write_csv(tmp_path / "t.csv", table), label="kind")
    assert ds.class_names == ("2", "10", "33") and ds.y[:5].tolist() == [1, 0, 0, 1, 2]


def test_a_parquet_table_reads_like_its_csv(tmp_path):
    pytest.importorskip("pyarrow")
    table = frame()
    table.to_parquet(tmp_path / "t.parquet")
    ds = load_dataset("table", path=tmp_path / "t.parquet", label="kind", provider="hospital")
    csv = load_dataset("table", path=write_csv(tmp_path / "t.csv", table), label="kind", provider="hospital")
    assert np.array_equal(ds.x, csv.x) and np.array_equal(ds.y, csv.y) and np.array_equal(ds.provider, csv.provider)


def test_parquet_without_pyarrow_names_the_package(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"PAR1 not really")
    code = ("import sys; sys.modules['pyarrow'] = sys.modules['fastparquet'] = None\n"  # as if not installed
            "from fastdatashapley.data import load_table\n"
            f"load_table({str(path)!r}, 'kind')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and last.startswith("ImportError: data.path = ") and "needs the package pyarrow" in last


def write_png(path, array: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_an_image_folder_is_resized_to_the_stated_shape(tmp_path):
    red = np.zeros((12, 10, 3), np.uint8)
    red[..., 0] = 255
    write_png(tmp_path / "imgs/cats/a.png", red)
    write_png(tmp_path / "imgs/cats/b.png", np.full((5, 7), 128, np.uint8))  # grey, another size
    write_png(tmp_path / "imgs/dogs/c.png", np.full((8, 8, 3), 255, np.uint8))
    ds = load_dataset("image_folder", path=tmp_path / "imgs", image_size=(4, 6))
    assert ds.x.shape == (3, 3, 4, 6) and ds.class_names == ("cats", "dogs") and ds.y.tolist() == [0, 0, 1]
    assert np.allclose(ds.x[0, 0], 1) and np.allclose(ds.x[0, 1:], 0) and np.allclose(ds.x[1], 128 / 255)
    assert np.allclose(ds.x[2], 1) and not ds.tabular
    grey = load_dataset("image_folder", path=tmp_path / "imgs", image_size=(4, 6), channels=1)
    assert grey.x.shape == (3, 1, 4, 6) and np.allclose(grey.x[2], 1)


def test_image_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such folder"):
        load_dataset("image_folder", path=tmp_path / "gone", image_size=(4, 4))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"data.path = .*empty.*class folder"):
        load_dataset("image_folder", path=tmp_path / "empty", image_size=(4, 4))
    write_png(tmp_path / "imgs/a/ok.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "imgs/b").mkdir()
    (tmp_path / "imgs/b/broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read the image .*broken\.png"):
        load_dataset("image_folder", path=tmp_path / "imgs", image_size=(4, 4))


def test_an_npz_holds_table_rows_or_images(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 4))
    np.savez(tmp_path / "rows.npz", x=x, y=np.arange(10) % 2 + 5)
    rows = load_dataset("npz", path=tmp_path / "rows.npz")
    assert rows.x.shape == (10, 1, 1, 4) and rows.tabular and np.allclose(rows.x[:, 0, 0], x)
    assert rows.class_names == ("5", "6") and rows.y.tolist() == [0, 1] * 5
    np.savez(tmp_path / "imgs.npz", x=np.full((6, 5, 7), 51, np.uint8), y=np.arange(6) % 3)
    imgs = load_dataset("npz", path=tmp_path / "imgs.npz")
    assert imgs.x.shape == (6, 1, 5, 7) and np.allclose(imgs.x, 0.2) and imgs.n_classes == 3 and not imgs.tabular


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 2))}, r"no array 'y'"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(3, int)}, r"y has shape \[3\]; it must be \[N\] with N = 4"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(4)}, r"y must hold integer class labels"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(4, int)}, r"y has one class"),
    ({"x": np.full((4, 2), np.nan), "y": np.arange(4)}, r"x holds NaN"),
    ({"x": np.zeros(4), "y": np.arange(4)}, r"x has shape \[4\]"),
])
def test_bad_npz_files_are_one_line_naming_the_file(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ValueError, match=message) as err:
        load_dataset("npz", path=tmp_path / "d.npz")
    assert "d.npz" in str(err.value) and "\n" not in str(err.value)


# -- bad tables ---------------------------------------------------------------------------------------------------


def _with_nan(table: pd.DataFrame, column: str, row: int) -> pd.DataFrame:
    table = table.astype({column: object}) if table[column].dtype.kind not in "f" else table.copy()
    table.loc[row, column] = None
    return table


BAD_TABLES = [
    ("missing label", frame(), {"label": "species"}, r"no column 'species' \(data.label\); its columns are age, dose"),
    ("missing feature", frame(), {"label": "kind", "features": ["age", "weight"]}, r"no column 'weight' \(data.features\)"),
    ("missing provider", frame(), {"label": "kind", "provider": "clinic"}, r"no column 'clinic' \(data.provider\)"),
    ("text feature", frame(), {"label": "kind", "features": ["age", "note"]},
     r"column 'note' \(data.features\) is not numeric \(dtype .*e.g. 'n0'\)"),
    ("one class", frame().assign(kind="cat"), {"label": "kind"}, r"label column 'kind' \(data.label\) has one class"),
    ("continuous label", frame(), {"label": "score"}, r"label column 'score' \(data.label\) holds non-integer numbers"),
    ("nan feature", _with_nan(frame(), "age", 4), {"label": "kind"}, r"column 'age' has a missing value .* row 5 of 12"),
    ("nan label", _with_nan(frame(), "kind", 0), {"label": "kind"}, r"column 'kind' has a missing value .* row 1 of 12"),
    ("nan provider", _with_nan(frame(), "hospital", 11), {"label": "kind", "provider": "hospital"},
     r"column 'hospital' has a missing value .* row 12 of 12"),
    ("infinite feature", frame().assign(score=[np.inf] + [0.0] * 11), {"label": "kind"},
     r"column 'score' has an infinite value .* data row 1"),
    ("no numeric feature", frame()[["note", "kind"]], {"label": "kind"}, r"no numeric column besides the label 'kind'"),
    ("label as feature", frame(), {"label": "kind", "features": ["kind"]}, r"column 'kind' is in data.features and is the label"),
]


@pytest.mark.parametrize("case, table, keys, message", BAD_TABLES, ids=[c[0] for c in BAD_TABLES])
def test_bad_tables_are_one_line_naming_the_file_and_column(tmp_path, case, table, keys, message):
    path = write_csv(tmp_path / "patients.csv", table)
    with pytest.raises(ValueError, match=message) as err:
        load_dataset("table", path=path, **keys)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_or_missing_table_files_name_the_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"data.path = .*gone\.csv: no such file"):
        load_dataset("table", path=tmp_path / "gone.csv", label="kind")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"data.path = .*empty\.csv: cannot read it as CSV \(.+\)"):
        load_dataset("table", path=tmp_path / "empty.csv", label="kind")
    (tmp_path / "t.txt").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"t\.txt: a table is a \.csv or \.parquet file"):
        load_dataset("table", path=tmp_path / "t.txt", label="a")


def test_a_table_too_small_for_the_split_names_the_key_and_the_file(tmp_path):
    ds = load_dataset("table", path=write_csv(tmp_path / "small.csv", frame()), label="kind")
    with pytest.raises(ValueError, match=r"split.n_train asks for 10 images of class 0 but table \(.*small\.csv\) has only 6"):
        make_split(ds, 20, 2, 0, seed=0)
    with pytest.raises(ValueError, match=r"split.n_test .* table \(.*small\.csv\) has only"):
        make_split(ds, 8, 6, 0, seed=0)


# -- standardisation by D ------------------------------------------------------------------------------------------


def test_table_features_are_standardised_by_d_alone(tmp_path):
    ds = load_dataset("table", path=write_csv(tmp_path / "t.csv", frame(60)), label="kind")
    split = make_split(ds, 20, 10, 0, seed=3)
    held_out = np.setdiff1d(np.arange(60), split.train)
    scaled = standardise_by_train(ds, split.train)
    d = scaled.x[split.train].astype(np.float64)
    assert np.allclose(d.mean(0), 0, atol=1e-5) and np.allclose(d.std(0), 1, atol=1e-5)
    raw_d = ds.x[split.train].astype(np.float64)
    assert np.allclose(scaled.feature_mean, raw_d.mean(0)) and scaled.feature_mean.shape == (1, 1, 3)
    expected = (ds.x[held_out] - raw_d.mean(0)) / raw_d.std(0)  # every role, with D's statistics
    assert np.allclose(scaled.x[held_out], expected, atol=1e-5)
    # held-out rows do not move D's statistics: make them absurd and D's standardised rows stay the same
    wild = ds.x.copy()
    wild[held_out] = 1e6
    again = standardise_by_train(type(ds)(**{**ds.__dict__, "x": wild}), split.train)
    assert np.array_equal(again.x[split.train], scaled.x[split.train])
    assert np.array_equal(again.feature_std, scaled.feature_std)


def test_a_feature_constant_on_d_is_only_centred_and_images_are_untouched(tmp_path):
    table = frame(20).assign(dose=3)
    ds = load_dataset("table", path=write_csv(tmp_path / "t.csv", table), label="kind")
    scaled = standardise_by_train(ds, np.arange(10))
    assert np.all(scaled.x[:, 0, 0, 1] == 0) and scaled.feature_std[0, 0, 1] == 1
    digits = load_dataset("digits")
    assert standardise_by_train(digits, np.arange(10)) is digits


@pytest.mark.parametrize("name", ["breast_cancer", "wine"])
def test_bundled_tables_match_their_registry_counts(name):
    ds, source = load_dataset(name), DATASETS.get(name)
    assert ds.tabular and ds.in_shape == source.in_shape
    assert tuple(np.bincount(ds.y)) == source.train_counts == source.eval_counts and source.shared
    assert len(ds.class_names) == ds.n_classes


# -- config checks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data, message", [
    ({"dataset": "digits", "label": "kind"}, r"data.label does not apply to data.dataset = digits \(it reads no files\)"),
    ({"dataset": "table", "path": "{csv}"}, r"data.dataset = table needs data.label"),
    ({"dataset": "table", "label": "kind"}, r"data.dataset = table needs data.path"),
    ({"dataset": "table", "path": "{csv}", "label": "kind", "image_size": [4, 4]},
     r"data.image_size does not apply to data.dataset = table \(it takes data.path, data.label"),
    ({"dataset": "table", "path": "nowhere.csv", "label": "kind"}, r"data.path = nowhere.csv: no such file or folder"),
    ({"dataset": "image_folder", "path": "{csv}"}, r"data.dataset = image_folder needs data.image_size"),
    ({"dataset": "image_folder", "path": "{csv}", "image_size": [4]}, r"config key data.image_size = \[4\] breaks"),
    ({"dataset": "image_folder", "path": "{csv}", "image_size": [4, 4], "channels": 2}, r"data.channels = 2 breaks"),
    ({"dataset": "table", "path": "{csv}", "label": "kind", "features": []}, r"data.features = \[\] breaks"),
    ({"dataset": "table", "path": "{csv}", "label": "kind", "colour": "x"}, r"unknown key data.colour"),
])
def test_file_keys_are_checked_before_any_job(tmp_path, data, message):
    csv = str(write_csv(tmp_path / "t.csv", frame()))
    cfg = {"data": {k: v.format(csv=csv) if isinstance(v, str) else v for k, v in data.items()}}
    with pytest.raises(ConfigError, match=message):
        check_workflow_config(cfg, SCHEMA, check_device=False)


# -- a real run ----------------------------------------------------------------------------------------------------


def providers_table(n: int = 1000, providers: int = 20) -> pd.DataFrame:
    """A synthetic table of ``n`` rows: eight numeric features on very different scales, a text column, a
    two-class string label and ``providers`` clinics, each owning every ``providers``-th row."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n, n_features=8, n_informative=5, class_sep=1.5, random_state=0)
    table = pd.DataFrame(x * np.logspace(-2, 3, 8) + np.arange(8) * 7.0, columns=[f"m{j}" for j in range(8)])
    table["note"] = [f"visit {i}" for i in range(n)]
    table["outcome"] = np.where(y == 1, "recovered", "relapsed")
    table["clinic"] = [f"clinic-{i % providers:02d}" for i in range(n)]
    return table


@pytest.mark.slow
def test_a_csv_of_your_own_goes_from_file_to_provider_payouts(tmp_path, capsys):
    """A CSV of 1,000 rows and 20 providers, valued by FDS, GFDS+ on provider groups, LOO and random values through
    the workflow; then the CLI explains one raw row of the file and pays the 20 providers."""
    from fastdatashapley.cli import main

    table = providers_table()
    csv = write_csv(tmp_path / "patients.csv", table)
    config = write_config(
        tmp_path / "table.yaml", run="table",
        data={"dataset": "table", "path": str(csv), "label": "outcome", "provider": "clinic"},
        split={"n_train": 60, "n_pool": 60, "n_val": 20, "n_test": 10, "pool_correct_only": False},
        service={"arch": "digits_mlp", "epochs": 20}, explainers={"methods": ["fds", "gfds+"], "max_epochs": 10},
        grouping={"kind": "provider"},
        baselines={"methods": ["loo", "random"], "scopes": ["per_sample"]},
        evaluation={"grid_samples": 2, "lds": {"subsets": 10}, "grouping_study": False, "curve_step": 0.1,
                    "curve_max": 0.5},
    )
    proc = snakemake(tmp_path / "work", config=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = tmp_path / "work/results/table"
    split = load_npz(run / "split.npz")
    names = [f"clinic-{j:02d}" for j in range(20)]
    assert split["x_train"].shape == (60, 1, 1, 8) and split["feature_mean"].shape == (1, 1, 8)
    assert np.allclose(split["x_train"].mean(0), 0, atol=1e-5)  # standardised by D
    assert split["class_names"].tolist() == ["recovered", "relapsed"]
    assert split["feature_names"].tolist() == [f"m{j}" for j in range(8)]  # the text column is no feature
    assert split["provider_names"].tolist() == names
    assert np.array_equal(split["provider_train"], split["idx_train"] % 20)
    assert read_json(run / "service_model.json")["test_accuracy"] > 0.7
    loss, lds = pd.read_csv(run / "tables/value_loss.csv"), pd.read_csv(run / "tables/lds.csv")
    assert {"fds", "gfds+", "loo/per_sample", "random/per_sample"} == set(loss["method"])
    assert {"fds", "gfds+", "loo/per_sample", "random/per_sample", "noise_ceiling"} == set(lds["method"])
    assert {"fds", "loo/per_sample"} <= set(pd.read_csv(run / "tables/cost.csv")["method"])
    groups = read_json(run / "groups.json")["groups"]  # GFDS+ plays the providers present in D
    assert sorted(len(set(split["provider_train"][g].tolist())) for g in groups) == [1] * len(groups)
    assert len(groups) == len(np.unique(split["provider_train"]))
    explainer = Explainer.load(run / "explainers/fds.pt")
    assert explainer.providers == names and explainer.provider_of().tolist() == split["provider_train"].tolist()
    ranked = pd.read_csv(run / "tables/providers.csv")  # the report's provider ranking
    assert set(ranked["method"]) == set(loss["method"]) and (ranked.groupby("method").size() == 20).all()
    fds_rank = ranked[ranked["method"] == "fds"]
    assert fds_rank["rank"].tolist() == list(range(1, 21)) and fds_rank["mean_value"].is_monotonic_decreasing
    assert fds_rank["points"].sum() == 60 and "top 5 of 20 providers" in (run / "tables/providers.md").read_text()

    # the CLI reads a raw row of the file (columns in any order, extra columns ignored) and pays the providers
    k = int(split["idx_test"][1])
    query = write_csv(tmp_path / "query.csv", table.iloc[[5, k]][["note", "clinic", *reversed(table.columns[:8])]])
    fds = str(run / "explainers/fds.pt")
    assert main(["explain", "--explainer", fds, "--row", str(query), "--row-index", "1", "--pay", "100",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["row"] == str(query) and result["row_index"] == 1
    paid = result["payments"]["providers"]
    assert sorted(paid) == names and sum(paid.values()) == pytest.approx(100.0)
    values = explainer.values_for(split["x_test"][1:2])[0]  # the same row as the workflow standardised it
    assert result["top"][0]["value"] == pytest.approx(values.max(), rel=1e-4, abs=1e-7)
    expected = explainer.pay(split["x_test"][1], 100.0, label=result["label"])
    assert paid == pytest.approx(expected, rel=1e-4, abs=1e-4)
    absent = set(names) - {names[j] for j in split["provider_train"]}
    assert all(paid[a] == 0 for a in absent) and {r["provider"] for r in result["providers"]} == set(names)
    assert main(["explain", "--explainer", fds, "--row", str(query), "--top", "3"]) == 0
    assert "top 3 of 20 providers" in capsys.readouterr().out
    bad = write_csv(tmp_path / "bad.csv", table.iloc[[5]].drop(columns="m3"))
    assert main(["explain", "--explainer", fds, "--row", str(bad)]) == 2
    assert f"--row {bad}: no column 'm3'" in capsys.readouterr().err
    assert main(["explain", "--explainer", fds, "--row", str(query), "--row-index", "2"]) == 2
    assert "--row-index 2 is out of range" in capsys.readouterr().err
