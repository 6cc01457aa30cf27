"""The trained explainer: a network phi_theta(x) -> [n, m] with all it needs at inference.

Methods differ in the table they train on and in the outputs:

* ``fds``: kernel design, full trainer. ``afds``: kernel design, approximate (K-epoch) trainer. Nothing in
  the training differs; the table's trainer spec is kept in ``meta``.
* ``gfds``: group design (players: the members of D_j plus every other group as one player), same loss on
  data masks, n outputs.
* ``gfds+`` (groups as players): variant ``split``: N outputs (one per group), s is the group indicator,
  normalisation over N, and at inference each group's value is split evenly among its members
  (phi_i = phi_G / |G|). Variant ``penalty``: n outputs trained with the group penalty (eq. 6); values are the
  n outputs as they are.

At inference v(1) - v(0) comes from the service model f_D and the null model (``ServiceModel.proba`` and
``null_proba`` on x), so the values of any image sum exactly (to float64 rounding) to f_D(x) - f_0(x). Training is
:func:`~fastdatashapley.explainers.training.fit_explainer`; the file format is :mod:`.file_format`.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..base.checks import check_batch_size, check_features, check_pixels
from ..base.devices import resolve_device
from ..base.predict import predict_chunked
from ..engine.service import ServiceModel
from ..games.coalitions import check_groups
from .loss import expand, normalise
from .payout import provider_totals, split_payment

#: GFDS+ variants: N group outputs split evenly, or n outputs with the group penalty.
VARIANTS = ("split", "penalty")
#: What an explainer's outputs are: Shapley values (efficient: normalised to sum to f_D(x) - f_0(x)) or Banzhaf
#: values (not efficient: the raw outputs).
SHAPLEY, BANZHAF = "shapley", "banzhaf"
VALUES = (SHAPLEY, BANZHAF)
#: Largest gap allowed between the sum of an image's values and f_D(x) - f_0(x), a difference of probabilities
#: (float64 rounding of a sound net's outputs stays below 1e-9).
EFFICIENCY_TOLERANCE = 1e-6


@dataclass
class Explainer:
    """A trained explainer with all it needs at inference: the service and null models, D and the groups.

    ``values(x)`` returns ``[B, n, m]`` float64: the value of every training point for every label.
    ``variant`` is ``"split"`` or ``"penalty"`` for GFDS+, else ``None``. ``net_config`` is the
    :func:`~fastdatashapley.explainers.nets.net_config` dict of ``net``. ``source`` is the file it was loaded
    from, if any (named in errors).
    """

    net: nn.Module
    net_config: dict[str, Any]
    method: str
    service: ServiceModel
    x_train: np.ndarray
    y_train: np.ndarray
    groups: list[np.ndarray] | None = None
    variant: str | None = None
    dataset: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    value: str = SHAPLEY
    source: str | None = field(default=None, compare=False)

    _nets: dict[torch.device, tuple[nn.Module, nn.Module, nn.Module]] = field(default_factory=dict, init=False,
                                                                             repr=False, compare=False)

    def __post_init__(self) -> None:
        self.net.eval()
        self.x_train = np.asarray(self.x_train, dtype=np.float32)
        self.y_train = np.asarray(self.y_train, dtype=np.int64)
        if self.groups is not None:
            self.groups = check_groups(self.groups, self.n)

    # -- shapes ----------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of training points valued."""
        return len(self.y_train)

    @property
    def m(self) -> int:
        """Number of labels."""
        return self.service.spec.n_classes

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.service.spec.in_shape)  # type: ignore[return-value]

    @property
    def split_groups(self) -> bool:
        """True when the net outputs one value per group (GFDS+ ``split``)."""
        return self.variant == "split"

    # -- input checks ----------------------------------------------------------------------------
    def check_images(self, x: Any, name: str = "image") -> np.ndarray:
        """``x`` ``[B, C, H, W]`` (or one ``[C, H, W]``) as float32; ValueError for a wrong shape or channels, values
        that are not numbers, NaN or Inf, or pixels outside [0, 1] (the training range; the CLI checks the same).
        Table rows (``[B, 1, 1, d]``, ``[B, d]`` or one row ``[d]``) are standardised features: any finite values."""
        x = np.asarray(x)
        c, h, w = self.in_shape
        if x.ndim in (1, 2) and (c, h) == (1, 1):  # table rows [B, d] or one row [d]
            x = x.reshape(-1, 1, 1, x.shape[-1])
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise ValueError(
                f"{name} shape {list(x.shape)} does not fit this explainer, which takes [B, {c}, {h}, {w}] "
                f"({c} channel{'s' if c > 1 else ''} of {h}x{w} pixels)"
            )
        if (c, h) == (1, 1):  # table rows [B, 1, 1, d], standardised: any finite values
            return check_features(x, name)
        return check_pixels(x, name)

    def table_rows(self, frame: Any, source: str = "table") -> np.ndarray:
        """Raw rows of a table (a pandas DataFrame with this explainer's feature columns, ``meta["features"]``;
        other columns are ignored) as its inputs ``[B, 1, 1, d]`` float32, standardised by D's mean and std as in
        training. ValueError naming ``source`` and the column for a missing, non-numeric or non-finite feature."""
        own = self.meta.get("features")
        if own is None:
            raise ValueError(f"explainer {self.method} was not trained on a table with named feature columns "
                             "(data.dataset: table); give its inputs as arrays")
        names = list(own["names"])
        missing = [c for c in names if c not in frame.columns]
        if missing:
            raise ValueError(f"{source}: no column {missing[0]!r} (the explainer's features are {', '.join(names)})")
        for c in names:
            if frame[c].dtype.kind not in "iufb":
                raise ValueError(f"{source}: column {c!r} is not numeric (dtype {frame[c].dtype})")
        raw = frame[names].to_numpy(np.float64)
        if len(raw) == 0:
            raise ValueError(f"{source}: the table has no rows")
        bad = ~np.isfinite(raw)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise ValueError(f"{source}: column {names[col]!r} is missing or not finite in data row {row + 1}")
        x = ((raw - np.asarray(own["mean"], np.float64)) / np.asarray(own["std"], np.float64)).astype(np.float32)
        return self.check_images(x[:, None, None, :], source)

    def check_labels(self, labels: Any, count: int) -> np.ndarray:
        """``labels`` as int64 ``[count]`` in [0, m); a scalar is broadcast."""
        arr = np.asarray(labels)
        if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and np.all(arr == np.round(arr))):
            raise ValueError(f"labels must be integers, got {arr.dtype}")
        arr = np.broadcast_to(arr.astype(np.int64), (count,)) if arr.ndim == 0 else arr.astype(np.int64)
        if arr.shape != (count,):
            raise ValueError(f"labels must have shape [{count}], got {list(arr.shape)}")
        bad = arr[(arr < 0) | (arr >= self.m)]
        if len(bad):
            raise ValueError(f"label {int(bad[0])} is out of range: this explainer's labels are 0..{self.m - 1}")
        return arr

    def check_compatible(self, dataset: str | None = None, n: int | None = None, in_shape: Sequence[int] | None = None,
                         n_classes: int | None = None) -> None:
        """Raise ValueError if this explainer was made for another dataset, training-set size, image shape or label count."""
        if dataset is not None and dataset != self.dataset:
            raise ValueError(f"explainer was trained for dataset {self.dataset!r}, not {dataset!r}")
        if n is not None and int(n) != self.n:
            raise ValueError(f"explainer values n = {self.n} training points, not {n}")
        if in_shape is not None and tuple(int(s) for s in in_shape) != self.in_shape:
            raise ValueError(f"explainer takes images of shape {list(self.in_shape)}, not {list(in_shape)}")
        if n_classes is not None and int(n_classes) != self.m:
            raise ValueError(f"explainer has m = {self.m} labels, not {n_classes}")

    # -- inference -------------------------------------------------------------------------------
    def _nets_on(self, dev: torch.device) -> tuple[nn.Module, nn.Module, nn.Module]:
        """(f_D, null model, explainer net) in eval mode on ``dev``, built once per device; on the CPU the explainer
        net is :attr:`net` itself."""
        if dev not in self._nets:
            nets = []
            for state in (self.service.state, self.service.null_state):
                net = self.service.spec.build()
                net.load_state_dict(state)
                nets.append(net.to(dev).eval())
            phi = self.net if dev.type == "cpu" else copy.deepcopy(self.net).to(dev)
            self._nets[dev] = (nets[0], nets[1], phi.eval())
        return self._nets[dev]

    def _service_proba(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Softmax ``[B, m]`` float32 of f_D and of the null model on checked images on the CPU, as
        ``ServiceModel.proba`` and ``null_proba`` compute them (same layers, weights and 4096-image chunks)."""
        full, null, _ = self._nets_on(torch.device("cpu"))
        return predict_chunked(full, x), predict_chunked(null, x)

    def predict(self, x: Any) -> np.ndarray:
        """The service model's predicted labels ``[B]`` for images ``x``."""
        return self._service_proba(self.check_images(x))[0].argmax(1)

    def raw(self, x: Any, batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
        """Normalised network outputs ``[B, n_out, m]`` float64 (n_out = N groups for GFDS+ split, else n).

        ``device``: where the service, null and explainer nets run (``"cuda"``, or ``"auto"``: CUDA when present);
        the result is a CPU array. On the CPU f_D and the null model run in 4096-image chunks, elsewhere per batch."""
        batch_size = check_batch_size(batch_size)
        dev = resolve_device(device)
        x = self.check_images(x)
        out = np.empty((len(x), self.net_config["n_out"], self.m))
        full_net, null_net, net = self._nets_on(dev)
        if dev.type == "cpu":
            full, null = self._service_proba(x)
            total = torch.from_numpy(full.astype(np.float64) - null.astype(np.float64))
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[i : i + batch_size]).to(dev)
                if dev.type == "cpu":
                    total_b = total[i : i + batch_size]
                else:
                    total_b = torch.softmax(full_net(xb), 1).double() - torch.softmax(null_net(xb), 1).double()
                phi = net(xb).double()
                out[i : i + batch_size] = (normalise(phi, total_b) if self.value == SHAPLEY else phi).cpu().numpy()
                self._check_values(out[i : i + batch_size], total_b.cpu().numpy(), i)
        return out

    def _check_values(self, phi: np.ndarray, total: np.ndarray, first: int) -> None:
        """ValueError naming the file unless the values ``phi [b, n_out, m]`` of images ``first ...`` are finite and,
        for Shapley values, sum over n_out to ``total [b, m]`` = f_D(x) - f_0(x) within :data:`EFFICIENCY_TOLERANCE`:
        a net whose outputs are too large for float64 (a bias of 1e38) loses the sum to rounding."""
        name = f"explainer file {self.source}" if self.source else "explainer"
        finite = np.isfinite(phi).reshape(len(phi), -1).all(1)
        if not finite.all():
            raise ValueError(f"{name}: the values of image {first + int(np.argmin(finite))} are not finite; its net's "
                             "outputs are too large")
        if self.value != SHAPLEY:
            return
        gap = np.abs(phi.sum(1) - total)
        if not (gap <= EFFICIENCY_TOLERANCE).all():
            b, label = np.unravel_index(np.argmax(gap), gap.shape)
            raise ValueError(f"{name}: the values of image {first + b} for label {label} sum to "
                             f"{phi[b, :, label].sum():.6g}, not f_D(x) - f_0(x) = {total[b, label]:.6g} (efficiency, "
                             f"tolerance {EFFICIENCY_TOLERANCE:g}); its net's outputs are too large")

    def values(self, x: Any, batch_size: int = 256, device: str | torch.device = "cpu") -> np.ndarray:
        """Values of the n training points for every label: ``[B, n, m]`` float64; Shapley values sum over n to
        f_D(x) - f_0(x) (Banzhaf values need not).

        ``device``: where the explainer network runs (:meth:`raw`)."""
        phi = self.raw(x, batch_size, device)
        if self.split_groups:
            phi = expand(torch.from_numpy(phi), self.groups, self.n).numpy()
        return phi

    def values_for(self, x: Any, labels: Any = None) -> np.ndarray:
        """Values ``[B, n]`` for one label per image (default: the service model's prediction)."""
        x = self.check_images(x)
        labels = self.predict(x) if labels is None else self.check_labels(labels, len(x))
        return self.values(x)[np.arange(len(x)), :, labels]

    # -- providers and payment --------------------------------------------------------------------
    @property
    def providers(self) -> list[str] | None:
        """Names of the data providers (``meta["providers"]``), or None when every point is its own provider."""
        own = self.meta.get("providers")
        return None if own is None else list(own["names"])

    def provider_of(self) -> np.ndarray:
        """Each training point's provider, ``[n]`` int64 indices into :attr:`providers` (``arange(n)`` without)."""
        own = self.meta.get("providers")
        return np.arange(self.n) if own is None else np.asarray(own["of_point"], np.int64)

    def provider_values(self, x: Any, labels: Any = None) -> np.ndarray:
        """Each provider's value ``[B, N]``: the sum of its points' values (:meth:`values_for`)."""
        return provider_totals(self.values_for(x, labels), self.provider_of(), len(self.providers or range(self.n)))

    def pay(self, x: Any, amount: float, *, label: Any = None, negative: str = "keep") -> dict[str, float]:
        """Split ``amount`` paid for the prediction on one input ``x [C, H, W]`` among the providers by their values
        (:func:`~fastdatashapley.explainers.payout.split_payment`); ``label`` defaults to f_D's prediction. Provider
        name -> share; without providers each training point is one, named by its index."""
        x = self.check_images(x)
        if len(x) != 1:
            raise ValueError(f"pay values one input at a time, got {len(x)}")
        shares = split_payment(self.provider_values(x, labels=label)[0], amount, negative)
        names = self.providers or [str(i) for i in range(self.n)]
        return dict(zip(names, shares.tolist()))

    # -- persistence -----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """JSON-able summary: method, dataset, shapes, net, training history summary."""
        return {
            "method": self.method, "variant": self.variant, "dataset": self.dataset, "n": self.n, "m": self.m,
            "in_shape": list(self.in_shape), "net": self.net_config,
            "groups": [len(g) for g in self.groups] if self.groups is not None else None,
            "epochs": len(self.history), "best_val_loss": self.meta.get("best_val_loss"),
            "service_arch": self.service.spec.arch,
            "providers": len(self.providers) if self.providers is not None else None,
        }

    def save(self, path: str | os.PathLike) -> None:
        """One self-contained file, written atomically (:func:`~fastdatashapley.explainers.file_format.save_explainer`)."""
        from .file_format import save_explainer

        save_explainer(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Explainer":
        """Read and validate a file written by :meth:`save`; every error is a ValueError naming ``path``
        (:func:`~fastdatashapley.explainers.file_format.load_explainer`)."""
        from .file_format import load_explainer

        return load_explainer(path)
