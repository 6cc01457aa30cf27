"""Grouping functions Psi_N: partitions, determinism, planted clusters, the three feature views, errors."""

import numpy as np
import pytest
import torch

from fastdatashapley.games.grouping import FEATURES, KINDS, features, make_groups, penultimate
from small_service import one_torch_thread, small_digits_service


@pytest.fixture(scope="module")
def digits():
    """18 digits of classes 0-2 and a service model trained on them."""
    with one_torch_thread():
        ds, idx, service = small_digits_service(per_class=6)
    return ds.x[idx], ds.y[idx], service


def as_sets(groups):
    return sorted(tuple(sorted(g.tolist())) for g in groups)


def test_label_groups_are_the_classes(digits):
    x, y, _ = digits
    perm = np.random.default_rng(0).permutation(len(y))
    groups = make_groups("label", "pixels", x[perm], y[perm], 99)
    assert len(groups) == 3
    for g in groups:
        assert len(set(y[perm][g])) == 1 and len(g) == 6
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)


@pytest.mark.parametrize("kind", ["kmeans", "spectral"])
def test_clustering_recovers_planted_clusters(kind):
    rng = np.random.default_rng(1)
    centres = rng.uniform(size=(3, 1, 4, 4)) * 10
    truth = rng.permutation(np.repeat([0, 1, 2], 7))
    x = centres[truth] + rng.normal(scale=0.01, size=(21, 1, 4, 4))
    groups = make_groups(kind, "pixels", x, np.zeros(21, int), 3, seed=0)
    assert as_sets(groups) == as_sets([np.flatnonzero(truth == c) for c in range(3)])


def test_every_kind_and_view_partitions_deterministically(digits):
    x, y, service = digits
    assert set(KINDS) == {"label", "provider", "kmeans", "spectral"} and set(FEATURES) == {"pixels", "outputs", "embeddings"}
    for kind in ("kmeans", "spectral"):
        for view in FEATURES:
            groups = make_groups(kind, view, x, y, 4, service=service, seed=3)
            assert 1 <= len(groups) <= 4 and all(len(g) > 0 and g.dtype == np.int64 for g in groups)
            assert np.array_equal(np.sort(np.concatenate(groups)), np.arange(len(y)))
            again = make_groups(kind, view, x, y, 4, service=service, seed=3)
            assert [g.tolist() for g in groups] == [g.tolist() for g in again]


def test_provider_groups_are_the_providers_points(digits):
    x, y, _ = digits
    providers = np.arange(len(y)) % 3
    groups = make_groups("provider", "pixels", x, y, 2, providers=providers)
    assert [g.tolist() for g in groups] == [np.flatnonzero(providers == j).tolist() for j in range(3)]
    with pytest.raises(ValueError, match="data.provider"):
        make_groups("provider", "pixels", x, y, 2)


def test_feature_views_are_what_they_say(digits):
    x, _, service = digits
    assert np.array_equal(features("pixels", x), x.reshape(len(x), -1).astype(np.float64))
    assert np.allclose(features("outputs", x, service), service.proba(x))
    net = service.spec.build()
    net.load_state_dict(service.state)
    with torch.no_grad():
        manual = net[:-1](torch.from_numpy(x)).double().numpy()  # everything before the last Linear layer
        logits = net[-1](torch.from_numpy(manual).float())
    emb = penultimate(service, x)
    assert emb.shape == (len(x), net[-1].in_features) and np.allclose(emb, manual)
    assert np.allclose(torch.softmax(logits, 1).numpy(), service.proba(x), atol=1e-6)
    assert np.array_equal(features("embeddings", x, service), emb)


def test_grouping_errors_name_the_argument(digits):
    x, y, _ = digits
    with pytest.raises(ValueError, match="unknown grouping kind 'tree'"):
        make_groups("tree", "pixels", x, y, 3)
    with pytest.raises(ValueError, match="unknown grouping features 'hog'"):
        make_groups("kmeans", "hog", x, y, 3)
    with pytest.raises(ValueError, match="need the service model"):
        make_groups("kmeans", "embeddings", x, y, 3)
    with pytest.raises(ValueError, match="n_groups must lie in"):
        make_groups("kmeans", "pixels", x, y, 1)
    with pytest.raises(ValueError, match="n_groups must lie in"):
        make_groups("spectral", "pixels", x, y, 19)
    with pytest.raises(ValueError, match="same length"):
        make_groups("label", "pixels", x, y[:3], 3)
