"""Atomic file output: every artifact is written to a temp file in the same folder, then renamed."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` defaults to the target's own suffix, so writers that infer a format from it still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*"):  # left by a writer that was killed (SIGKILL)
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read JSON, naming the file in any error."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read JSON file {path}: {exc}") from exc


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Save arrays to an ``.npz`` atomically, with a SHA-256 checksum over their contents."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    arrays["__checksum__"] = np.array(checksum(arrays))
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load an ``.npz`` written by :func:`save_npz`, verifying its checksum; errors name the file."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # zipfile / OSError / ValueError on truncated files
        raise ValueError(f"cannot read array file {path}: it is missing, truncated or corrupted ({exc})") from exc
    stored = arrays.pop("__checksum__", None)
    if stored is None:
        raise ValueError(f"array file {path} has no checksum; it was not written by fastdatashapley")
    if str(stored) != checksum(arrays):
        raise ValueError(f"array file {path} failed its checksum; it is corrupted")
    return arrays


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``arrays`` (order independent)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(key.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def json_default(obj: Any) -> Any:
    """The ``default=`` of every ``json.dumps`` in the package: numpy scalars and arrays as Python numbers and
    lists, paths (``os.PathLike``) as strings; anything else is a TypeError naming its type."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def save_values(path: str | os.PathLike, values: np.ndarray, meta: dict[str, Any]) -> None:
    """A method's values (``[n]`` global or ``[n, T, m]`` per sample, float64) with JSON metadata."""
    save_npz(path, values=np.asarray(values, dtype=np.float64), meta=np.array(json.dumps(meta, default=json_default)))


def load_values(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Inverse of :func:`save_values`; errors name the file."""
    arrays = load_npz(path)
    if "values" not in arrays or "meta" not in arrays:
        raise ValueError(f"{path} is not a values file (needs arrays 'values' and 'meta')")
    if not np.isfinite(arrays["values"]).all():
        raise ValueError(f"values file {path} contains NaN or Inf")
    return arrays["values"], json.loads(str(arrays["meta"]))
