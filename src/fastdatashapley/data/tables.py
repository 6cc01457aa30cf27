"""Tables as datasets: your own CSV or Parquet file (``data.dataset: table``) and scikit-learn's bundled tables
(``breast_cancer``, ``wine``), read with pandas.

A row of d numeric features becomes an input ``[1, 1, d]`` (float32, as read), so every service arch takes it
(``digits_mlp`` is the MLP for tables); the split standardises it by D's mean and std (:mod:`.standardise`). The
label column's distinct values, sorted, are the classes 0..m-1 (``Dataset.class_names`` keeps them as text); the
optional provider column's distinct values, sorted, are the provider codes (``Dataset.provider``, ``provider_names``).
Train and eval parts are the same rows (the split keeps D, the test samples and the probes disjoint). Every problem
with the file is one line naming the file, the column and the config key.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .datasets import DATASETS, DataNotFoundError, DataOptions, Dataset, DatasetSource

#: Table file formats by suffix.
TABLE_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
#: Columns a message lists at most.
_SHOWN_COLUMNS = 12


def read_table(path: str | os.PathLike):
    """The CSV or Parquet file ``path`` as a pandas DataFrame (the format from its suffix).

    :class:`DataNotFoundError` when it is missing; ImportError naming pyarrow for Parquet without it; ValueError
    naming the file when pandas cannot read it.
    """
    import pandas as pd

    path = Path(path)
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"data.path = {path}: a table is a .csv or .parquet file (the suffix decides)")
    if not path.is_file():
        raise DataNotFoundError(f"data.path = {path}: no such file")
    try:
        return pd.read_csv(path) if kind == "CSV" else pd.read_parquet(path)
    except ImportError:
        raise ImportError(f"data.path = {path}: reading Parquet needs the package pyarrow, which is not installed "
                          f"(pip install pyarrow, or save the table as CSV)") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"data.path = {path}: cannot read it as {kind} ({_one_line(exc)})") from None


def table_dataset(frame, label: str, features: Sequence[str] | None = None, provider: str | None = None, *,
                  name: str = "table", source: str = "") -> Dataset:
    """A :class:`Dataset` of table rows ``x [N, 1, 1, d]`` from a DataFrame.

    ``label``: the class column. ``features``: the input columns, in order (None: every other numeric column but
    ``provider``). ``provider``: a column naming each row's data provider (None: none). ValueError, one line naming
    ``source`` (the file) and the column, for a missing column, a non-numeric feature, a missing or infinite value,
    a continuous label or a label with one class.
    """
    where = source or name
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    _need_column(frame, label, "data.label", where)
    if provider is not None:
        _need_column(frame, provider, "data.provider", where)
        if provider == label:
            raise ValueError(f"{where}: data.provider and data.label are the same column {label!r}")
    features = _feature_columns(frame, label, features, provider, where)
    for column in [label, *features, *([provider] if provider is not None else [])]:
        _no_missing(frame[column], column, where)
    x = frame[features].to_numpy(np.float64).astype(np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise ValueError(f"{where}: column {features[col]!r} has an infinite value (or one beyond float32) in data "
                         f"row {row + 1}; every feature must be finite")
    y, class_names = _label_codes(frame[label], label, where)
    codes, provider_names = (None, ()) if provider is None else _codes(frame[provider])
    n = len(y)
    return Dataset(name, x.reshape(n, 1, 1, len(features)), y, np.arange(n), np.arange(n), len(class_names),
                   class_names=class_names, provider=codes, provider_names=provider_names, tabular=True,
                   source=source, feature_names=tuple(features))


def load_table(path: str | os.PathLike, label: str, features: Sequence[str] | None = None,
               provider: str | None = None) -> Dataset:
    """The CSV or Parquet file ``path`` as a dataset (:func:`read_table`, then :func:`table_dataset`)."""
    return table_dataset(read_table(path), label, features, provider, source=str(path))


def _need_column(frame, column: str, key: str, where: str) -> None:
    if column not in frame.columns:
        shown = ", ".join(list(frame.columns)[:_SHOWN_COLUMNS]) + (", ..." if frame.shape[1] > _SHOWN_COLUMNS else "")
        raise ValueError(f"{where}: no column {column!r} ({key}); its columns are {shown}")


def _feature_columns(frame, label: str, features: Sequence[str] | None, provider: str | None,
                     where: str) -> list[str]:
    """The feature columns: the given ones, each present, numeric and neither label nor provider; or, for None,
    every other numeric column."""
    from pandas.api.types import is_numeric_dtype

    if features is None:
        chosen = [c for c in frame.columns if c not in (label, provider) and is_numeric_dtype(frame[c])]
        if not chosen:
            raise ValueError(f"{where}: no numeric column besides the label {label!r} (data.label) and the provider; "
                             f"name the features in data.features")
        return chosen
    chosen = [str(c) for c in features]
    for column in chosen:
        _need_column(frame, column, "data.features", where)
        if column in (label, provider):
            raise ValueError(f"{where}: column {column!r} is in data.features and is the "
                             f"{'label' if column == label else 'provider'}")
        if not is_numeric_dtype(frame[column]):
            example = frame[column].dropna()
            shown = f", e.g. {example.iloc[0]!r}" if len(example) else ""
            raise ValueError(f"{where}: column {column!r} (data.features) is not numeric (dtype {frame[column].dtype}"
                             f"{shown})")
    return chosen


def _no_missing(series, column: str, where: str) -> None:
    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(f"{where}: column {column!r} has a missing value (NaN or empty) in data row "
                         f"{int(np.argmax(missing)) + 1} of {len(series)}; fill or drop it")


def _codes(series) -> tuple[np.ndarray, tuple[str, ...]]:
    """int64 codes ``[N]`` of a column's distinct values, sorted (as numbers when the column is numeric, as text
    otherwise), and the values as text."""
    from pandas.api.types import is_numeric_dtype

    values = series.to_numpy()
    if not is_numeric_dtype(series):
        values = values.astype(str)
    elif np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values)):
        values = values.astype(np.int64)
    distinct, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), tuple(str(v) for v in distinct)


def _label_codes(series, label: str, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    from pandas.api.types import is_bool_dtype, is_float_dtype

    values = series.to_numpy()
    if is_float_dtype(series) and not is_bool_dtype(series) and np.any(values != np.round(values)):
        example = values[values != np.round(values)][0]
        raise ValueError(f"{where}: label column {label!r} (data.label) holds non-integer numbers (e.g. {example}); "
                         f"it must name classes")
    codes, names = _codes(series)
    if len(names) < 2:
        raise ValueError(f"{where}: label column {label!r} (data.label) has one class ({names[0]!r}) in its "
                         f"{len(codes)} rows; a classifier needs at least 2")
    return codes, names


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _table(options: DataOptions) -> Dataset:
    return load_table(options.path, options.label, options.features, options.provider)


def _bundled(name: str, loader_name: str):
    """A loader of scikit-learn's bundled table ``sklearn.datasets.<loader_name>`` (column ``target``)."""

    def load(options: DataOptions) -> Dataset:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)(as_frame=True)
        ds = table_dataset(bunch.frame, "target", list(bunch.feature_names), name=name,
                           source=f"sklearn.datasets.{loader_name}")
        return replace(ds, class_names=tuple(str(t) for t in bunch.target_names))

    return load


_TABLE_KEYS = ("path", "label", "features", "provider")
for _source in (
    DatasetSource("table", _table, None, description="your own CSV or Parquet file (data.path, data.label)",
                  keys=_TABLE_KEYS, required=("path", "label")),
    DatasetSource("breast_cancer", _bundled("breast_cancer", "load_breast_cancer"), (1, 1, 30), (212, 357),
                  (212, 357), True, "scikit-learn's Wisconsin breast cancer table (569 rows, 30 features)"),
    DatasetSource("wine", _bundled("wine", "load_wine"), (1, 1, 13), (59, 71, 48), (59, 71, 48), True,
                  "scikit-learn's wine table (178 rows, 13 features, 3 classes)"),
):
    DATASETS.register(_source)
