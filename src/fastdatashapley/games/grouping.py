"""Grouping functions Psi_N for GFDS and GFDS+: split the training set D into N disjoint groups.

Kinds (:data:`KINDS`):

* ``label``: one group per class present in y (``n_groups`` and the feature view are ignored).
* ``provider``: one group per data provider of D (``providers [n]``, e.g. a table's ``data.provider`` column):
  GFDS+ then values providers as players (paper section 2.1).
* ``kmeans`` / ``spectral``: scikit-learn clustering into ``n_groups`` groups of one feature view
  (:data:`FEATURES`): ``pixels`` (flattened images), ``outputs`` (the service model's softmax) or
  ``embeddings`` (the service model's penultimate layer: the input of its last Linear layer, the output
  of every layer before it). Features are used as they are (no per-dimension scaling). k-means uses 10 seeded
  restarts; spectral clustering a symmetric 10-nearest-neighbour graph and the deterministic
  ``cluster_qr`` label assignment.

Result: a list of sorted int64 index arrays that partition range(n), ordered by their smallest member.
No group is empty: a clustering that leaves a cluster empty (possible with spectral clustering or with
duplicate points) returns fewer groups than asked, and ``make_groups`` logs nothing and raises nothing
about it; call ``len()`` on the result. The same inputs and ``seed`` give the same groups.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("label", "provider", "kmeans", "spectral")
FEATURES = ("pixels", "outputs", "embeddings")


def features(view: str, x: np.ndarray, service: Any = None) -> np.ndarray:
    """The feature view ``view`` of images ``x [n, C, H, W]``: ``[n, d]`` float64 (``service`` for outputs/embeddings)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if view == "pixels":
        return x.reshape(len(x), -1).astype(np.float64)
    if view not in FEATURES:
        raise ValueError(f"unknown grouping features {view!r}; choose one of {', '.join(FEATURES)}")
    if service is None:
        raise ValueError(f"grouping features {view!r} need the service model (service=None)")
    if view == "outputs":
        return service.proba(x).astype(np.float64)
    return penultimate(service, x)


def penultimate(service: Any, x: np.ndarray) -> np.ndarray:
    """Input of the service model's last Linear layer for ``x [n, C, H, W]``: ``[n, d]`` float64 (for a model that
    is not a Sequential, the input of the last ``nn.Linear`` it registers, read by a forward hook)."""
    import torch  # only the model-based views need torch: label and pixel groupings start without it

    from ..base.predict import predict_chunked

    net = service.spec.build()
    net.load_state_dict(service.state)
    net.eval()
    if isinstance(net, torch.nn.Sequential) and isinstance(net[-1], torch.nn.Linear):
        return predict_chunked(net[:-1], x, fn=lambda h: h.flatten(1)).astype(np.float64)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"service model {service.spec.arch!r} has no Linear layer to read embeddings from")
    seen: list[torch.Tensor] = []
    hook = linears[-1].register_forward_pre_hook(lambda _, args: seen.append(args[0]))  # any model: its input

    def embed(xb: torch.Tensor) -> torch.Tensor:
        seen.clear()
        net(xb)
        return seen[-1].flatten(1)

    try:
        return predict_chunked(embed, x, fn=lambda h: h).astype(np.float64)
    finally:
        hook.remove()


def make_groups(
    kind: str,
    view: str,
    x: np.ndarray,
    y: np.ndarray,
    n_groups: int,
    *,
    service: Any = None,
    seed: int = 0,
    providers: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Partition range(n) into groups of the training set ``x [n, C, H, W]``, ``y [n]`` (see the module docstring).

    ``kind`` in :data:`KINDS`; ``view`` in :data:`FEATURES` (ignored for ``label``); ``n_groups`` in [2, n]
    (ignored for ``label``); ``service`` (a :class:`~fastdatashapley.engine.service.ServiceModel`) for the
    ``outputs`` and ``embeddings`` views; ``providers [n]`` for ``provider``. Deterministic under ``seed``.
    """
    y = np.asarray(y).ravel()
    x = np.asarray(x)
    if len(x) != len(y):
        raise ValueError(f"x ({len(x)} images) and y ({len(y)} labels) must have the same length")
    if len(y) == 0:
        raise ValueError("cannot group an empty training set")
    if kind == "label":
        labels = y
    elif kind == "provider":
        if providers is None:
            raise ValueError("grouping kind 'provider' needs each training point's provider (config key data.provider)")
        labels = np.asarray(providers).ravel()
        if labels.shape != y.shape:
            raise ValueError(f"providers must have shape [{len(y)}], got {list(labels.shape)}")
    elif kind in ("kmeans", "spectral"):
        if not 2 <= int(n_groups) <= len(y):
            raise ValueError(f"grouping n_groups must lie in [2, n = {len(y)}], got {n_groups}")
        feats = features(view, x, service)
        if kind == "kmeans":
            from sklearn.cluster import KMeans

            labels = KMeans(int(n_groups), n_init=10, random_state=seed).fit_predict(feats)
        else:
            from sklearn.cluster import SpectralClustering

            labels = SpectralClustering(int(n_groups), affinity="nearest_neighbors", n_neighbors=min(10, len(y) - 1),
                                        random_state=seed, assign_labels="cluster_qr").fit_predict(feats)
    else:
        raise ValueError(f"unknown grouping kind {kind!r}; choose one of {', '.join(KINDS)}")
    groups = [np.flatnonzero(labels == c).astype(np.int64) for c in np.unique(labels)]
    return sorted(groups, key=lambda g: int(g[0]))
