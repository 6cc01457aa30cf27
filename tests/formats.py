"""Writers for small dataset files in the real on-disk formats (IDX, CIFAR-10 python batches)."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise a uint8 array in the IDX format (magic 0x0000 08 <ndim>, big-endian int32 dims)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.tobytes()


def fake_images(n: int, shape: tuple[int, ...], n_classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images [n, *shape] whose brightness encodes the label, and balanced labels [n]."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    x = rng.integers(0, 20, size=(n, *shape)) + (y * 20).reshape(-1, *([1] * len(shape)))
    return x.astype(np.uint8), y.astype(np.uint8)


def write_mnist_family(folder: Path, n_train: int, n_test: int, gz: bool) -> dict[str, np.ndarray]:
    """Write the four MNIST-family IDX files (gzipped like the Debian package, or raw like torchvision's)."""
    folder.mkdir(parents=True, exist_ok=True)
    xtr, ytr = fake_images(n_train, (28, 28), seed=1)
    xte, yte = fake_images(n_test, (28, 28), seed=2)
    files = {
        "train-images-idx3-ubyte": xtr,
        "train-labels-idx1-ubyte": ytr,
        "t10k-images-idx3-ubyte": xte,
        "t10k-labels-idx1-ubyte": yte,
    }
    for name, arr in files.items():
        data = idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return files


def write_cifar10(root: Path, per_batch: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Write cifar-10-batches-py with five training batches and a test batch; returns the test arrays."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, 6):
        x, y = fake_images(per_batch, (3, 32, 32), seed=10 + i)
        _pickle(folder / f"data_batch_{i}", {"data": x.reshape(per_batch, -1), "labels": y.tolist()})
    x, y = fake_images(n_test, (3, 32, 32), seed=20)
    _pickle(folder / "test_batch", {"data": x.reshape(n_test, -1), "labels": y.tolist()})
    _pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    return x, y


def _pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)
