"""Image datasets from your own files: a folder of class folders (``data.dataset: image_folder``) and an ``.npz``
file of arrays ``x`` and ``y`` (``data.dataset: npz``). Tables (CSV, Parquet) are in :mod:`.tables`.

Both give one set of images that is both the train and the eval part (the split keeps D, the test samples and
the probes disjoint). Errors are one line naming the file or folder and the config key.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .datasets import DATASETS, DataNotFoundError, DataOptions, Dataset, DatasetSource

#: ``data.channels``: PIL's mode for each number of colour channels.
IMAGE_MODES = {1: "L", 3: "RGB"}


def load_image_folder(path: str | os.PathLike, image_size: tuple[int, int], channels: int = 3) -> Dataset:
    """torchvision's ``ImageFolder`` layout (``path/<class>/<image>``, classes in sorted folder order) as float32
    images ``[N, channels, H, W]`` in [0, 1], each resized (bilinear) to ``image_size = (H, W)`` pixels.

    :class:`DataNotFoundError` for a missing folder or one without class folders of images; ValueError naming the
    file that PIL cannot read.
    """
    from torchvision.datasets import ImageFolder

    root = Path(path)
    if channels not in IMAGE_MODES:
        raise ValueError(f"data.channels = {channels!r} must be 1 (grey) or 3 (RGB)")
    h, w = (int(s) for s in image_size)
    if not root.is_dir():
        raise DataNotFoundError(f"data.path = {root}: no such folder (image_folder reads one sub-folder of images "
                                f"per class)")
    try:
        folder = ImageFolder(str(root), loader=str)  # the scan only: files are read below
    except FileNotFoundError as exc:
        raise DataNotFoundError(f"data.path = {root}: {exc}") from None
    if len(folder.classes) < 2:
        raise ValueError(f"data.path = {root}: one class folder ({folder.classes[0]!r}); a classifier needs at least 2")
    x = np.empty((len(folder.samples), channels, h, w), np.float32)
    for i, (file, _) in enumerate(folder.samples):
        x[i] = _read_image(Path(file), (h, w), channels)
    y = np.asarray(folder.targets, np.int64)
    idx = np.arange(len(y))
    return Dataset("image_folder", x, y, idx, idx, len(folder.classes), class_names=tuple(folder.classes),
                   source=str(root))


def _read_image(file: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image file as float32 ``[channels, H, W]`` in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img = img.convert(IMAGE_MODES[channels]).resize(size[::-1], Image.Resampling.BILINEAR)
            a = np.asarray(img, np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"data.path: cannot read the image {file} ({exc})") from None
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


def load_npz_dataset(path: str | os.PathLike) -> Dataset:
    """An ``.npz`` file of ``x`` and ``y`` as a dataset. ``x``: ``[N, d]`` table rows (-> ``[N, 1, 1, d]``, standardised
    by the split), ``[N, H, W]`` grey images (-> ``[N, 1, H, W]``) or ``[N, C, H, W]`` images; uint8 pixels are
    scaled to [0, 1], other numbers taken as they are (finite). ``y``: ``[N]`` integer labels, whose distinct values,
    sorted, are the classes. ValueError naming the file and the array for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"data.path = {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as f:
            held = list(f.files)
            missing = [k for k in ("x", "y") if k not in held]
            if missing:
                raise ValueError(f"data.path = {path}: no array {missing[0]!r} (an npz dataset holds x [N, ...] and "
                                 f"y [N]); it holds {', '.join(held) or 'nothing'}")
            x, y = f["x"], f["y"]
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"data.path = {path}: not a readable .npz file ({exc})") from None
    x, tabular = _npz_images(x, path)
    y = _npz_labels(y, len(x), path)
    distinct, codes = np.unique(y, return_inverse=True)
    if len(distinct) < 2:
        raise ValueError(f"data.path = {path}: y has one class ({distinct[0]}); a classifier needs at least 2")
    idx = np.arange(len(y))
    return Dataset("npz", x, codes.astype(np.int64), idx, idx, len(distinct),
                   class_names=tuple(str(v) for v in distinct), tabular=tabular, source=str(path))


def _npz_images(x: np.ndarray, path: Path) -> tuple[np.ndarray, bool]:
    """``x`` as float32 ``[N, C, H, W]`` and whether it holds table rows."""
    if x.dtype.kind not in "biuf":
        raise ValueError(f"data.path = {path}: x must hold numbers, not {x.dtype}")
    if x.ndim not in (2, 3, 4) or 0 in x.shape:
        raise ValueError(f"data.path = {path}: x has shape {list(x.shape)}; it must be [N, d] table rows, [N, H, W] "
                         f"or [N, C, H, W] images")
    out = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 and x.ndim > 2 else x.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"data.path = {path}: x holds NaN or infinite values (first at x{list(np.argwhere(~np.isfinite(out))[0])})")
    shape = {2: (len(x), 1, 1, -1), 3: (len(x), 1, *x.shape[1:]), 4: x.shape}[x.ndim]
    return out.reshape(shape), x.ndim == 2


def _npz_labels(y: np.ndarray, n: int, path: Path) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"data.path = {path}: y has shape {list(y.shape)}; it must be [N] with N = {n} (the rows of x)")
    if y.dtype.kind not in "biu":
        raise ValueError(f"data.path = {path}: y must hold integer class labels, not {y.dtype}")
    return y


def _image_folder(options: DataOptions) -> Dataset:
    return load_image_folder(options.path, options.image_size, options.channels)


def _npz(options: DataOptions) -> Dataset:
    return load_npz_dataset(options.path)


for _source in (
    DatasetSource("image_folder", _image_folder, None, description="your own folder of class folders (data.path)",
                  keys=("path", "image_size", "channels"), required=("path", "image_size")),
    DatasetSource("npz", _npz, None, description="your own .npz file of arrays x and y (data.path)", keys=("path",),
                  required=("path",)),
):
    DATASETS.register(_source)
