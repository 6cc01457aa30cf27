"""Dataset loaders (real file formats written by the tests) and the seeded split."""

from pathlib import Path

import numpy as np
import pytest
from formats import write_cifar10, write_mnist_family

from fastdatashapley.data import DataNotFoundError, load_dataset, make_split, take_probes


def test_digits_is_embedded():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.dtype == np.float32
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    assert ds.n_classes == 10 and set(np.unique(ds.y)) == set(range(10))
    assert np.array_equal(ds.train_idx, ds.eval_idx)


def test_fashion_mnist_reads_debian_gz_files(tmp_path):
    source = tmp_path / "debian"
    files = write_mnist_family(source, n_train=30, n_test=20, gz=True)
    ds = load_dataset("fashion-mnist", tmp_path / "root", source_dir=source)
    assert ds.x.shape == (50, 1, 28, 28)
    assert np.allclose(ds.x[:30, 0] * 255, files["train-images-idx3-ubyte"])
    assert np.array_equal(ds.y[30:], files["t10k-labels-idx1-ubyte"])
    assert len(ds.train_idx) == 30 and len(ds.eval_idx) == 20
    # unpacked once into the torchvision root; a second load needs no source
    assert (tmp_path / "root/FashionMNIST/raw/train-images-idx3-ubyte").exists()
    again = load_dataset("fashion-mnist", tmp_path / "root", source_dir=tmp_path / "gone")
    assert np.array_equal(again.x, ds.x)


def test_mnist_reads_torchvision_root(tmp_path):
    files = write_mnist_family(tmp_path / "MNIST" / "raw", n_train=20, n_test=10, gz=False)
    ds = load_dataset("mnist", tmp_path)
    assert ds.x.shape == (30, 1, 28, 28)
    assert np.array_equal(ds.y[:20], files["train-labels-idx1-ubyte"])


def test_cifar10_reads_python_batches(tmp_path):
    x_test, y_test = write_cifar10(tmp_path, per_batch=4, n_test=6)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.x.shape == (26, 3, 32, 32)
    assert np.allclose(ds.x[20:] * 255, x_test)
    assert np.array_equal(ds.y[20:], y_test)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "fashion-mnist"])
def test_missing_files_name_the_path(tmp_path, name):
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(name, tmp_path / "nowhere", source_dir=tmp_path / "nosource")
    assert "nowhere" in str(err.value) or "nosource" in str(err.value)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="data.dataset"):
        load_dataset("imagenet")


def test_split_is_balanced_disjoint_and_seeded():
    ds = load_dataset("digits")
    a = make_split(ds, n_train=100, n_test=10, n_needed=1100, seed=3)
    b = make_split(ds, n_train=100, n_test=10, n_needed=1100, seed=3)
    c = make_split(ds, n_train=100, n_test=10, n_needed=1100, seed=4)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("train", "test", "rest"))
    assert not np.array_equal(a.train, c.train)
    assert np.array_equal(np.bincount(ds.y[a.train]), np.full(10, 10))
    assert np.array_equal(np.bincount(ds.y[a.test]), np.ones(10))
    every = np.concatenate([a.train, a.test, a.rest])
    assert len(np.unique(every)) == len(every) == len(ds.y)


def test_split_errors_name_the_key():
    ds = load_dataset("digits")
    with pytest.raises(ValueError, match="split.n_train = 95 is not divisible"):
        make_split(ds, 95, 10, 0, 0)
    with pytest.raises(ValueError, match="split.n_train"):
        make_split(ds, 5000, 10, 0, 0)
    with pytest.raises(ValueError, match="split.n_pool"):
        make_split(ds, 100, 10, 5000, 0)


def test_take_probes_filters_then_takes_val_then_pool():
    rest = np.arange(10, 20)
    keep = np.array([True, False] * 5)
    val, pool = take_probes(rest, keep, n_val=2, n_pool=3)
    assert val.tolist() == [10, 12] and pool.tolist() == [14, 16, 18]
    with pytest.raises(ValueError, match="pool_correct_only"):
        take_probes(rest, keep, n_val=3, n_pool=3)


def test_class_subset_relabels_and_keeps_parts(tmp_path):
    ds = load_dataset("digits", classes=[3, 7])
    full = load_dataset("digits")
    assert ds.n_classes == 2 and set(np.unique(ds.y)) == {0, 1}
    assert len(ds.y) == int(((full.y == 3) | (full.y == 7)).sum())
    assert np.array_equal(ds.x[ds.y == 1], full.x[full.y == 7])
    source = tmp_path / "debian"
    write_mnist_family(source, n_train=30, n_test=20, gz=True)
    fm = load_dataset("fashion-mnist", tmp_path / "root", source_dir=source, classes=[0, 1, 2])
    assert len(fm.train_idx) == 9 and len(fm.eval_idx) == 6 and fm.eval_idx.min() == 9
    with pytest.raises(ValueError, match="data.classes"):
        load_dataset("digits", classes=[3, 3])


def test_downsample_averages_pixel_blocks_and_rejects_sizes_it_does_not_divide(tmp_path):
    source = tmp_path / "debian"
    write_mnist_family(source, n_train=30, n_test=20, gz=True)
    full = load_dataset("fashion-mnist", tmp_path / "root", source_dir=source)
    half = load_dataset("fashion-mnist", tmp_path / "root", source_dir=source, downsample=2)
    assert half.in_shape == (1, 14, 14) and half.x.dtype == np.float32
    assert np.array_equal(half.y, full.y) and np.array_equal(half.eval_idx, full.eval_idx)
    block = full.x[5, 0, 2:4, 6:8]
    assert half.x[5, 0, 1, 3] == pytest.approx(float(block.mean()), abs=1e-7)
    assert np.allclose(half.x.mean(axis=(1, 2, 3)), full.x.mean(axis=(1, 2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match=r"data.downsample = 3 .*\(8 x 8\)"):
        load_dataset("digits", downsample=3)
    with pytest.raises(ValueError, match="data.downsample = 0"):
        load_dataset("digits", downsample=0)
