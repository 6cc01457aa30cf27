"""The utility table: the artifact between the retraining engine and every consumer.

A table holds, for S coalitions over n training points, the softmax of each coalition's sub-model on P
probe points for all m labels, together with the null (empty coalition) and grand (full coalition)
utilities and the metadata that produced them.

File format: one ``.npz`` written atomically by :func:`fastdatashapley.base.io.save_npz` (SHA-256 checksum),
with arrays ``masks`` (bool ``[S, n]``), ``utilities`` (float32 ``[S, P, m]``), ``null`` and ``grand``
(float32 ``[P, m]``), ``probe_ids`` (int64 ``[P]``), ``meta`` (a JSON string) and ``format`` (int).

Metadata conventions: ``meta["trainer"]`` is the :class:`~fastdatashapley.engine.training.TrainerSpec` dict,
``meta["seed"]`` the engine seed, ``meta["design"]`` the coalition design; anything that differs between
shards of one table belongs under ``meta["shard"]``. :func:`merge` requires the keys in
:data:`MERGE_KEYS` to agree and collects the shards' ``meta["shard"]`` into a list.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..base.io import json_default, load_npz, save_npz

if TYPE_CHECKING:  # torch is imported by whoever trains; reading and merging tables needs none (fast job start)
    from .retrainer import Retrainer
    from .training import TrainerSpec

FORMAT = 1
#: Utilities are softmax probabilities: a loaded table's lie in [0, 1] to within this (float32 rounding).
UTILITY_TOLERANCE = 1e-5
#: Metadata keys that every shard of one table must share (compared when present in any shard).
MERGE_KEYS = ("trainer", "seed", "design")
_FIELDS = ("masks", "utilities", "null", "grand", "probe_ids")


@dataclass(eq=False)
class UtilityTable:
    """Utilities of S coalitions for P probe points and m labels.

    masks: bool ``[S, n]``; utilities: float32 ``[S, P, m]``; null, grand: float32 ``[P, m]`` (empty and full
    coalition); probe_ids: int64 ``[P]``; meta: JSON-able dict; source: the file it was loaded from, if any.
    """

    masks: np.ndarray
    utilities: np.ndarray
    null: np.ndarray
    grand: np.ndarray
    probe_ids: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.masks = _as(self.masks, np.bool_, "masks")
        self.utilities = _as(self.utilities, np.float32, "utilities")
        self.null = _as(self.null, np.float32, "null")
        self.grand = _as(self.grand, np.float32, "grand")
        self.probe_ids = _as(self.probe_ids, np.int64, "probe_ids")
        problem = _problem(self)
        if problem:
            raise ValueError(f"{self._name()}: {problem}")

    def __eq__(self, other: object) -> bool:
        """Same arrays (exactly, dtypes included) and same metadata; ``source`` is ignored."""
        if not isinstance(other, UtilityTable):
            return NotImplemented
        same = all(
            getattr(self, k).dtype == getattr(other, k).dtype and np.array_equal(getattr(self, k), getattr(other, k)) for k in _FIELDS
        )
        return same and json.dumps(self.meta, sort_keys=True, default=json_default) == json.dumps(
            other.meta, sort_keys=True, default=json_default
        )

    __hash__ = None  # type: ignore[assignment]

    # -- shape accessors -------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of training points (players)."""
        return int(self.masks.shape[1])

    @property
    def n_coalitions(self) -> int:
        return int(self.masks.shape[0])

    @property
    def n_probes(self) -> int:
        return int(self.probe_ids.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.null.shape[1])

    def _name(self) -> str:
        return f"utility table {self.source}" if self.source else "utility table"

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write atomically to ``path`` (.npz with checksum); a killed writer leaves no partial file."""
        try:
            meta = json.dumps(self.meta, sort_keys=True, default=json_default)
        except TypeError as exc:
            raise ValueError(f"{self._name()}: meta is not JSON-serialisable ({exc})") from exc
        save_npz(
            path,
            masks=self.masks,
            utilities=self.utilities,
            null=self.null,
            grand=self.grand,
            probe_ids=self.probe_ids,
            meta=np.array(meta),
            format=np.array(FORMAT, np.int64),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "UtilityTable":
        """Read and validate a table (checksum, keys, dtypes, shapes, finiteness, utilities in [0, 1]); errors name
        the file."""
        arrays = load_npz(path)  # names the file on truncation, corruption or a bad checksum
        missing = [k for k in (*_FIELDS, "meta", "format") if k not in arrays]
        if missing:
            raise ValueError(f"utility table {path}: missing arrays {missing}")
        if int(arrays["format"]) != FORMAT:
            raise ValueError(f"utility table {path}: format {int(arrays['format'])}, this version reads format {FORMAT}")
        for name, dtype in zip(_FIELDS, (np.bool_, np.float32, np.float32, np.float32, np.int64)):
            if arrays[name].dtype != dtype:
                raise ValueError(f"utility table {path}: {name} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
        try:
            meta = json.loads(str(arrays["meta"][()]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"utility table {path}: metadata is not valid JSON ({exc})") from exc
        if not isinstance(meta, dict):
            raise ValueError(f"utility table {path}: metadata must be a JSON object, got {type(meta).__name__}")
        table = cls(*(arrays[k] for k in _FIELDS), meta=meta, source=str(path))
        problem = _range_problem(table)
        if problem:
            raise ValueError(f"utility table {path}: {problem}")
        return table

    # -- use -------------------------------------------------------------------------------------
    def trainer(self) -> TrainerSpec | None:
        """The trainer spec recorded in ``meta["trainer"]``, if any."""
        from .training import TrainerSpec

        return TrainerSpec.from_dict(self.meta["trainer"]) if "trainer" in self.meta else None

    def as_utility(self) -> Callable[[np.ndarray], np.ndarray]:
        """A utility function (project contract) answering from this table: ``masks [k, n]`` -> float64 ``[k, P, m]``.

        The empty mask gives ``null`` and the full mask ``grand``; any other mask must be a row of the table
        (the first occurrence is used), else ``KeyError``.
        """
        rows: dict[bytes, int] = {}
        for i, packed in enumerate(np.packbits(self.masks, axis=1)):
            rows.setdefault(packed.tobytes(), i)
        n = self.n

        def utility(masks: np.ndarray) -> np.ndarray:
            masks = np.asarray(masks, dtype=bool)
            if masks.ndim != 2 or masks.shape[1] != n:
                raise ValueError(f"masks must have shape [k, {n}], got {list(masks.shape)}")
            out = np.empty((len(masks), self.n_probes, self.n_classes), np.float64)
            missing = 0
            for j, (row, packed) in enumerate(zip(masks, np.packbits(masks, axis=1))):
                i = rows.get(packed.tobytes())
                if i is not None:
                    out[j] = self.utilities[i]
                elif not row.any():
                    out[j] = self.null
                elif row.all():
                    out[j] = self.grand
                else:
                    missing += 1
            if missing:
                raise KeyError(f"{missing} of {len(masks)} coalitions are not in {self._name()}")
            return out

        return utility

    def select(self, rows: np.ndarray | slice) -> "UtilityTable":
        """A table with the coalitions ``rows`` only (same probes, null, grand and metadata)."""
        return UtilityTable(self.masks[rows], self.utilities[rows], self.null, self.grand, self.probe_ids, dict(self.meta))


def compute_table(
    retrainer: Retrainer,
    masks: np.ndarray,
    probes: np.ndarray,
    probe_ids: np.ndarray,
    *,
    meta: dict[str, Any] | None = None,
    progress: bool = False,
    first_row: int = 0,
    block: int | None = None,
) -> UtilityTable:
    """Run the engine on ``masks [S, n]`` and package the result, with null and grand utilities.

    ``retrainer`` says what to retrain (trainer, initial weights, D, seed, device); ``probes [P, C, H, W]``
    with ids ``probe_ids [P]``. ``null`` is the initial weights' softmax on the probes; ``grand`` is the
    all-ones coalition trained alone through the engine (the service model f_D for the same spec and seed).
    ``meta`` gets ``trainer`` and ``seed`` filled in.

    ``block``: train the rows in separate engine runs over blocks of ``block`` design rows, cut at multiples
    of ``block`` counted from design row 0 (``masks[0]`` is design row ``first_row``). The engine's float
    rounding depends on which coalitions share a run, so with blocks a row's utilities depend only on its
    block: any split of the design into shards whose boundaries fall on block boundaries (shard sizes that are
    multiples of ``block``) gives bit-identical tables. None: one run over all rows.
    """
    probe_ids = np.asarray(probe_ids)
    if probe_ids.shape != (len(probes),):
        raise ValueError(f"probe_ids must have shape [{len(probes)}] to match probes, got {list(probe_ids.shape)}")
    utilities = _blockwise_softmax(retrainer, np.asarray(masks, bool), probes, first_row, block, progress)
    null = retrainer.null(probes)  # also the "mean" utility of a model that is never trained
    grand = retrainer.full(probes)
    meta = {**(meta or {}), "trainer": retrainer.spec.to_dict(), "seed": int(retrainer.seed)}
    return UtilityTable(np.asarray(masks, bool), utilities, null, grand, probe_ids.astype(np.int64), meta)


def _blockwise_softmax(retrainer: Retrainer, masks: np.ndarray, probes: np.ndarray, first_row: int,
                      block: int | None, progress: bool) -> np.ndarray:
    """``retrainer.softmax`` ``[S, P, m]`` run block by block (see :func:`compute_table`)."""
    if block is None or len(masks) == 0:
        return retrainer.softmax(masks, probes, progress=progress)
    if int(block) < 1 or int(first_row) < 0:
        raise ValueError(f"block must be >= 1 and first_row >= 0, got block={block}, first_row={first_row}")
    from tqdm.auto import tqdm

    rows = np.arange(first_row, first_row + len(masks))
    cuts = np.flatnonzero(np.diff(rows // int(block))) + 1  # local positions where a new block starts
    parts = []
    with tqdm(total=len(masks), disable=not progress, unit="coalition", desc="retraining") as bar:
        for part in np.split(np.arange(len(masks)), cuts):
            parts.append(retrainer.softmax(masks[part], probes))
            bar.update(len(part))
    return np.concatenate(parts)


def merge(tables: Sequence[UtilityTable]) -> UtilityTable:
    """Concatenate shards of one table, after checking that they agree.

    Shards must share n, probe_ids, null, grand (to 1e-6) and the metadata keys :data:`MERGE_KEYS`; the
    error names the offending shard (its file, or its ``meta["shard"]``). The merged metadata is the first
    shard's, with ``shard`` replaced by ``shards``: the list of the shards' ``meta["shard"]``.
    """
    tables = list(tables)
    if not tables:
        raise ValueError("merge needs at least one utility table")
    ref = tables[0]
    for t in tables[1:]:
        problem = None
        if t.n != ref.n:
            problem = f"it has n={t.n} training points, the first has {ref.n}"
        elif t.n_probes != ref.n_probes or not np.array_equal(t.probe_ids, ref.probe_ids):
            problem = "its probe_ids differ from the first shard's"
        elif t.n_classes != ref.n_classes:
            problem = f"it has {t.n_classes} classes, the first has {ref.n_classes}"
        elif not np.allclose(t.null, ref.null, rtol=0, atol=1e-6):
            problem = "its null utilities differ from the first shard's"
        elif not np.allclose(t.grand, ref.grand, rtol=0, atol=1e-6):
            problem = "its grand utilities differ from the first shard's"
        else:
            for key in MERGE_KEYS:
                if (key in t.meta or key in ref.meta) and t.meta.get(key) != ref.meta.get(key):
                    problem = f"its meta[{key!r}] = {t.meta.get(key)!r} differs from the first shard's {ref.meta.get(key)!r}"
                    break
        if problem:
            raise ValueError(f"cannot merge {_describe(t)} with {_describe(ref)}: {problem}")
    meta = {k: v for k, v in ref.meta.items() if k != "shard"}
    meta["shards"] = [t.meta.get("shard") for t in tables]
    return UtilityTable(
        np.concatenate([t.masks for t in tables]),
        np.concatenate([t.utilities for t in tables]),
        ref.null,
        ref.grand,
        ref.probe_ids,
        meta,
    )


# -------------------------------------------------------------------------------------------------


def _describe(t: UtilityTable) -> str:
    if t.source:
        return f"shard {t.source}"
    return f"shard with meta['shard'] = {t.meta.get('shard')!r}"


def _as(a: Any, dtype: type, name: str) -> np.ndarray:
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    a = a.detach().cpu().numpy() if torch is not None and isinstance(a, torch.Tensor) else np.asarray(a)
    if dtype is np.bool_ and a.dtype != np.bool_:
        raise TypeError(f"utility table field {name} must be bool, got dtype {a.dtype}")
    if dtype is np.int64 and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"utility table field {name} must hold integers, got dtype {a.dtype}")
    if dtype is np.float32 and not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"utility table field {name} must be floating point, got dtype {a.dtype}")
    return np.ascontiguousarray(a, dtype=dtype)


def _range_problem(t: UtilityTable) -> str | None:
    """Which of ``t``'s utilities lie outside [0, 1] (beyond :data:`UTILITY_TOLERANCE`), or None."""
    for name in ("null", "grand", "utilities"):
        a = getattr(t, name)
        if a.size and (a.min() < -UTILITY_TOLERANCE or a.max() > 1 + UTILITY_TOLERANCE):
            rows = ""
            if name == "utilities":
                outside = (a < -UTILITY_TOLERANCE) | (a > 1 + UTILITY_TOLERANCE)
                rows = f" in rows {np.flatnonzero(outside.reshape(len(a), -1).any(1))[:10].tolist()}"
            return (f"{name} lie in [{float(a.min()):.4g}, {float(a.max()):.4g}]{rows}; softmax utilities lie in "
                    f"[0, 1]")
    return None


def _problem(t: UtilityTable) -> str | None:
    """What is inconsistent about ``t``, or None."""
    if t.masks.ndim != 2:
        return f"masks must be [S, n], got shape {list(t.masks.shape)}"
    if t.utilities.ndim != 3:
        return f"utilities must be [S, P, m], got shape {list(t.utilities.shape)}"
    s, p, m = t.utilities.shape
    if t.masks.shape[0] != s:
        return f"masks has {t.masks.shape[0]} rows but utilities has {s}"
    if t.probe_ids.shape != (p,):
        return f"probe_ids must have shape [{p}] (P of utilities), got {list(t.probe_ids.shape)}"
    for name in ("null", "grand"):
        a = getattr(t, name)
        if a.shape != (p, m):
            return f"{name} must have shape [{p}, {m}] (P, m of utilities), got {list(a.shape)}"
        if not np.isfinite(a).all():
            return f"{name} contains NaN or infinite values"
    if not np.isfinite(t.utilities).all():
        bad = np.flatnonzero(~np.isfinite(t.utilities).reshape(s, -1).all(1))
        return f"utilities contain NaN or infinite values in rows {bad[:10].tolist()}"
    if not isinstance(t.meta, dict):
        return f"meta must be a dict, got {type(t.meta).__name__}"
    return None
