"""Grouping functions Psi_N for GFDS and GFDS+: split the training set D into N disjoint groups.

Kinds: ``label`` (one group per class present), or ``kmeans`` / ``spectral`` clustering (scikit-learn)
of one of three feature views: ``pixels`` (flattened images), ``outputs`` (the service model's softmax)
or ``embeddings`` (the service model's penultimate layer: the input of its last Linear layer).
Empty clusters are dropped, so a result may have fewer than ``n_groups`` groups.
"""

from __future__ import annotations

import numpy as np
import torch

KINDS = ("label", "kmeans", "spectral")
FEATURES = ("pixels", "outputs", "embeddings")


def features(view: str, x: np.ndarray, service=None) -> np.ndarray:
    """The feature view of images ``x [n, C, H, W]``: ``[n, d]`` float64."""
    if view == "pixels":
        return x.reshape(len(x), -1).astype(np.float64)
    if service is None:
        raise ValueError(f"grouping features {view!r} need the service model")
    if view == "outputs":
        return service.proba(x).astype(np.float64)
    if view == "embeddings":
        return penultimate(service, x)
    raise ValueError(f"unknown grouping features {view!r}; choose one of {', '.join(FEATURES)}")


def penultimate(service, x: np.ndarray) -> np.ndarray:
    """Input of the service model's last Linear layer for ``x [n, C, H, W]``: ``[n, d]`` float64."""
    net = service.spec.build()
    net.load_state_dict(service.state)
    net.eval()
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].detach()))
    with torch.no_grad():
        net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    hook.remove()
    return seen[0].double().numpy()


def make_groups(
    kind: str,
    view: str,
    x: np.ndarray,
    y: np.ndarray,
    n_groups: int,
    *,
    service=None,
    seed: int = 0,
) -> list[np.ndarray]:
    """Partition range(n) into groups (sorted index arrays, ordered by their smallest member).

    ``kind="label"`` ignores ``view`` and ``n_groups``. Deterministic under ``seed``.
    """
    y = np.asarray(y)
    if kind == "label":
        labels = y
    elif kind in ("kmeans", "spectral"):
        if not 2 <= n_groups <= len(y):
            raise ValueError(f"grouping.n_groups must lie in [2, n = {len(y)}], got {n_groups}")
        feats = features(view, x, service)
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-12)
        if kind == "kmeans":
            from sklearn.cluster import KMeans

            labels = KMeans(n_groups, n_init=10, random_state=seed).fit_predict(feats)
        else:
            from sklearn.cluster import SpectralClustering

            neighbours = min(10, len(y) - 1)
            labels = SpectralClustering(n_groups, affinity="nearest_neighbors", n_neighbors=neighbours,
                                        random_state=seed, assign_labels="cluster_qr").fit_predict(feats)
    else:
        raise ValueError(f"unknown grouping.kind {kind!r}; choose one of {', '.join(KINDS)}")
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    return sorted(groups, key=lambda g: g[0])
