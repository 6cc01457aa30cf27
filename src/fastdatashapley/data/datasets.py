"""The dataset registry and loaders.

Images are float32 arrays ``[N, C, H, W]`` scaled to [0, 1]; labels are int64 ``[N]``.
Each dataset has a *train part* (where the service training set D is drawn) and an *eval part*
(test-distribution images: explainer pool, validation and test samples). For ``digits`` both parts
are the whole dataset and the split keeps them disjoint.

Readers: scikit-learn for ``digits``; torchvision's MNIST-family and CIFAR-10 readers for the rest
(no hand-written IDX or CIFAR parsing here). Your own files (``table``, ``image_folder``, ``npz``) and scikit-learn's
bundled tables (``breast_cancer``, ``wine``) are in :mod:`.files` and :mod:`.tables`; a table row of d features is
an input ``[1, 1, d]``, standardised by D's statistics once the split has drawn D (:mod:`.standardise`).
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..base.io import atomic_path
from ..base.registry import Registry

FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DataNotFoundError(FileNotFoundError):
    """The dataset's files are not where the config says; the message says how to get them."""


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset of images or table rows.

    x: float32 ``[N, C, H, W]`` (images in [0, 1]; table rows ``[N, 1, 1, d]`` as read); y: int64 ``[N]``;
    ``train_idx``/``eval_idx`` index the two parts. ``class_names``: label ``k``'s name (empty: the labels
    themselves). ``provider``: int64 ``[N]``, each row's data provider as an index into ``provider_names`` (None:
    no provider column). ``tabular``: x holds table features, which the split standardises by D's mean and std
    (:func:`~fastdatashapley.data.standardise.standardise_by_train`; ``feature_mean``/``feature_std`` ``[1, 1, d]``
    are set then). ``feature_names``: a table's feature columns, in order (empty otherwise). ``source``: the file
    or folder read, for messages.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    train_idx: np.ndarray
    eval_idx: np.ndarray
    n_classes: int
    class_names: tuple[str, ...] = ()
    provider: np.ndarray | None = None
    provider_names: tuple[str, ...] = ()
    tabular: bool = False
    source: str = ""
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None
    feature_names: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """The dataset's name, with the file it came from: for messages."""
        return f"{self.name} ({self.source})" if self.source else self.name

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.x.shape[1:])  # type: ignore[return-value]


@dataclass(frozen=True)
class DataOptions:
    """Where a loader looks: ``root`` (torchvision root), ``download`` (may fetch), ``source_dir`` (Debian files),
    and your own files' keys (config keys ``data.<field>``, :mod:`.files`): ``path`` (the file or folder), ``label``,
    ``features`` and ``provider`` (table columns), ``image_size`` (``(H, W)`` in pixels) and ``channels`` (1 or 3)."""

    root: Path = Path("data")
    download: bool = False
    source_dir: Path = Path("/usr/share/datasets/fashion-mnist")
    path: Path | None = None
    label: str | None = None
    features: tuple[str, ...] | None = None
    provider: str | None = None
    image_size: tuple[int, int] | None = None
    channels: int = 3


@dataclass(frozen=True)
class DatasetSource:
    """A registered dataset: ``load(options) -> Dataset``, its image shape and its images per class.

    ``in_shape`` is None where the files decide it (your own files). ``train_counts``/``eval_counts`` are the images
    per class of the train and eval parts (``shared``: the two parts are the same images, as for digits); the
    workflow checks the split's sizes against them before any job runs, without reading data. ``None`` skips that
    check (a plugin or a file that cannot know its sizes; the split then checks them). ``keys``: the
    :class:`DataOptions` file fields (config keys ``data.<key>``) the loader reads, ``required`` those it needs;
    the workflow refuses the others for this dataset.
    """

    name: str
    load: Callable[[DataOptions], Dataset]
    in_shape: tuple[int, int, int] | None
    train_counts: tuple[int, ...] | None = None
    eval_counts: tuple[int, ...] | None = None
    shared: bool = False
    description: str = ""
    keys: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


#: Every dataset the workflow can load (config key ``data.dataset``), in registration order.
DATASETS: Registry[DatasetSource] = Registry("dataset")


def load_dataset(
    name: str,
    root: str | os.PathLike = "data",
    *,
    download: bool = False,
    source_dir: str | os.PathLike = "/usr/share/datasets/fashion-mnist",
    classes: list[int] | None = None,
    downsample: int = 1,
    **files,
) -> Dataset:
    """Load the registered dataset ``name`` (see :data:`DATASETS`).

    ``root`` is the torchvision root for mnist, fashion-mnist and cifar10; ``download`` lets torchvision
    fetch mnist/cifar10 into it. Fashion-MNIST is unpacked into ``root`` from the Debian package's
    ``.gz`` files in ``source_dir`` on first use. ``classes`` keeps only those labels, renumbered 0..k-1
    in the given order (small exact-enumeration runs). ``downsample = k`` averages each k x k block of pixels
    (``[N, C, H, W]`` -> ``[N, C, H / k, W / k]``; k must divide H and W): a cheaper service model at large n.
    ``files``: your own files' :class:`DataOptions` fields (``path``, ``label``, ``features``, ``provider``,
    ``image_size``, ``channels``), e.g. ``load_dataset("table", path="my.csv", label="y")``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} (config key data.dataset); choose one of {', '.join(DATASETS.names())}")
    source = DATASETS.get(name)
    if source.in_shape is not None:
        downsampled_shape(source.in_shape, downsample)  # fail before reading any file
    ds = source.load(DataOptions(Path(root), bool(download), Path(source_dir), **files))
    ds = ds if classes is None else _subset_classes(ds, classes)
    return ds if downsample == 1 else _downsample(ds, downsample)


def downsampled_shape(in_shape: tuple[int, int, int], k: int) -> tuple[int, int, int]:
    """``(C, H / k, W / k)``; ValueError naming ``data.downsample`` unless k is an integer >= 1 dividing H and W."""
    c, h, w = in_shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1 or h % k or w % k:
        raise ValueError(f"data.downsample = {k!r} must be an integer >= 1 that divides the image height and width "
                         f"({h} x {w})")
    return c, h // int(k), w // int(k)


def _downsample(ds: Dataset, k: int) -> Dataset:
    c, h, w = downsampled_shape(ds.in_shape, k)
    x = ds.x.reshape(len(ds.x), c, h, k, w, k).mean(axis=(3, 5), dtype=np.float32)
    return replace(ds, x=x)


def _subset_classes(ds: Dataset, classes: list[int]) -> Dataset:
    if len(set(classes)) != len(classes) or len(classes) < 2 or not all(0 <= c < ds.n_classes for c in classes):
        raise ValueError(f"data.classes must list at least 2 distinct labels of {ds.name} (0..{ds.n_classes - 1}), got {classes}")
    relabel = np.full(ds.n_classes, -1)
    relabel[list(classes)] = np.arange(len(classes))
    keep = relabel[ds.y] >= 0
    new_index = np.cumsum(keep) - 1
    part = lambda idx: new_index[idx[keep[idx]]]  # noqa: E731
    names = tuple(ds.class_names[c] for c in classes) if ds.class_names else ()
    provider = None if ds.provider is None else ds.provider[keep]
    return replace(ds, x=ds.x[keep], y=relabel[ds.y[keep]].astype(np.int64), train_idx=part(ds.train_idx),
                   eval_idx=part(ds.eval_idx), n_classes=len(classes), class_names=names, provider=provider)


def _digits(options: DataOptions) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]
    y = bunch.target.astype(np.int64)
    idx = np.arange(len(y))
    return Dataset("digits", x, y, idx, idx, 10)


def _from_parts(name: str, parts: list[tuple[np.ndarray, np.ndarray]], n_classes: int) -> Dataset:
    """Stack (train, eval) parts; images are uint8 ``[N, C, H, W]``."""
    (x_tr, y_tr), (x_ev, y_ev) = parts
    x = np.concatenate([x_tr, x_ev]).astype(np.float32) / 255.0
    y = np.concatenate([y_tr, y_ev]).astype(np.int64)
    return Dataset(name, x, y, np.arange(len(y_tr)), np.arange(len(y_tr), len(y)), n_classes)


def _train_and_test(name: str, make, to_arrays, missing: str) -> Dataset:
    """One Dataset from torchvision's train and test parts (``make(train: bool)``, ``to_arrays(part) -> (x, y)``).

    A part that torchvision cannot read raises :class:`DataNotFoundError` with ``missing`` (where it looked
    and how to get the data) and torchvision's own message.
    """
    parts = []
    for train in (True, False):
        try:
            part = make(train)
        except RuntimeError as exc:
            raise DataNotFoundError(f"{name}: {missing} ({exc})") from exc
        parts.append(to_arrays(part))
    return _from_parts(name, parts, 10)


def _mnist_family(cls, root: Path, download: bool, name: str, how: str) -> Dataset:
    return _train_and_test(
        name,
        lambda train: cls(str(root), train=train, download=download),
        lambda ds: (ds.data.numpy()[:, None], ds.targets.numpy()),
        f"no raw IDX files under {root / cls.__name__ / 'raw'}. {how}",
    )


def _mnist(options: DataOptions) -> Dataset:
    from torchvision.datasets import MNIST

    how = "Put the four MNIST IDX files there, or set data.download: true to let torchvision fetch them."
    return _mnist_family(MNIST, options.root, options.download, "mnist", how)


def _fashion_mnist(options: DataOptions) -> Dataset:
    from torchvision.datasets import FashionMNIST

    root, source_dir = options.root, options.source_dir
    raw = root / "FashionMNIST" / "raw"
    for stem in FASHION_FILES:
        if (raw / stem).exists():
            continue
        gz = source_dir / f"{stem}.gz"
        if not gz.exists():
            raise DataNotFoundError(
                f"fashion-mnist: {raw / stem} is missing and so is {gz}. Install the Debian package "
                f"(apt-get install dataset-fashion-mnist), or set data.source_dir to the folder holding "
                f"the .gz IDX files, or put the raw files in {raw}."
            )
        with gzip.open(gz) as src, atomic_path(raw / stem) as tmp, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
    how = "Install dataset-fashion-mnist (Debian) or point data.source_dir at its .gz files."
    return _mnist_family(FashionMNIST, root, False, "fashion-mnist", how)


def _cifar10(options: DataOptions) -> Dataset:
    from torchvision.datasets import CIFAR10

    root, download = options.root, options.download
    class LocalCIFAR10(CIFAR10):
        """torchvision's reader, accepting batch files that exist without checking their md5 sums."""

        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    return _train_and_test(
        "cifar10",
        lambda train: LocalCIFAR10(str(root), train=train, download=download),
        lambda ds: (ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets)),
        f"no python batches under {root / CIFAR10.base_folder}. Extract cifar-10-python.tar.gz there, "
        f"or set data.download: true to let torchvision fetch it.",
    )


_DIGITS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
_MNIST_TRAIN = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
_MNIST_TEST = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
for _source in (
    DatasetSource("digits", _digits, (1, 8, 8), _DIGITS, _DIGITS, True, "scikit-learn's embedded 8x8 digits"),
    DatasetSource("mnist", _mnist, (1, 28, 28), _MNIST_TRAIN, _MNIST_TEST, False, "MNIST from data.root"),
    DatasetSource("fashion-mnist", _fashion_mnist, (1, 28, 28), (6000,) * 10, (1000,) * 10, False,
                  "Fashion-MNIST from Debian's IDX files"),
    DatasetSource("cifar10", _cifar10, (3, 32, 32), (5000,) * 10, (1000,) * 10, False, "CIFAR-10 from data.root"),
):
    DATASETS.register(_source)


#: The config keys ``data.<key>`` of your own files (:class:`DataOptions` fields), which a dataset declares it reads.
FILE_KEYS = ("path", "label", "features", "provider", "image_size", "channels")


def load_configured(cfg: dict) -> Dataset:
    """:func:`load_dataset` from the workflow's ``data`` config section."""
    files = {key: tuple(cfg[key]) if isinstance(cfg[key], list) else cfg[key] for key in FILE_KEYS if key in cfg}
    return load_dataset(cfg["dataset"], cfg.get("root", "data"), download=cfg.get("download", False),
                        source_dir=cfg.get("source_dir", "/usr/share/datasets/fashion-mnist"), classes=cfg.get("classes"),
                        downsample=cfg.get("downsample", 1), **files)
