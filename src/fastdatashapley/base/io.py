"""Atomic file output: every artifact is written to a temp file in the same folder, then renamed."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np


#: What marks a temp file of :func:`atomic_path`: ``.<target name>`` + this + mkstemp's 8 characters + the suffix.
TEMP_MARK = ".fdstmp-"
_RANDOM = r"[a-z0-9_]{8}"  # tempfile's random part: 8 of a-z, 0-9 and _
#: Largest ``.npy`` header read (numpy's own default limit).
_MAX_HEADER = 10_000


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    ``suffix`` defaults to the target's own suffix, so writers that infer a format from it still work. The file
    gets the mode a plain ``open`` would give it (0o666 less the umask), not mkstemp's private 0o600. Temp files
    of this target left by a killed writer (SIGKILL) are removed first; no other file is touched. An OSError
    (a full disk, a read-only folder) is re-raised as one that names ``path``.
    """
    path = Path(path)
    suffix = suffix if suffix is not None else path.suffix
    prefix = f".{path.name}{TEMP_MARK}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in _own_temps(path.parent, prefix, suffix):
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    except OSError as exc:
        raise _naming(exc, path) from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except Exception as exc:
        cause = _write_error(exc, tmp, path)
        if cause is None:
            raise
        raise _naming(cause, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _own_temps(folder: Path, prefix: str, suffix: str) -> list[Path]:
    """The files in ``folder`` named exactly as :func:`atomic_path` names its temp files for this target."""
    pattern = re.compile(re.escape(prefix) + _RANDOM + re.escape(suffix))
    with os.scandir(folder) as entries:
        return [folder / e.name for e in entries if pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False)]


def _write_error(exc: BaseException, tmp: Path, path: Path) -> OSError | None:
    """The OSError behind ``exc`` (itself, or what it was raised from or while handling: torch.save raises a
    RuntimeError over the OSError of its file object) if it concerns writing ``tmp`` or ``path``, else None (a
    reader's error inside the block, say)."""
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, OSError) and e.errno is not None and e.filename in (None, str(tmp), str(path)):
            return e
    return None


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` as an OSError of the same errno whose message names the file being written."""
    return OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}")


def _umask() -> int:
    """The process umask, read from /proc where possible (setting it to read it back races with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    """Load an ``.npz`` written by :func:`save_npz`, verifying its checksum; errors name the file.

    Before any array is read, every member must be stored uncompressed (as :func:`save_npz` writes them) and hold
    what its ``.npy`` header declares, so reading allocates no more than the file's size: a small compressed
    file cannot inflate to gigabytes.
    """
    try:
        problem = _member_problem(path)
        if problem is None:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # zipfile / OSError / ValueError on truncated files
        raise ValueError(f"cannot read array file {path}: it is missing, truncated or corrupted ({exc})") from exc
    if problem is not None:
        raise ValueError(f"array file {path} was not written by fastdatashapley: {problem}")
    stored = arrays.pop("__checksum__", None)
    if stored is None:
        raise ValueError(f"array file {path} has no checksum; it was not written by fastdatashapley")
    if str(stored) != checksum(arrays):
        raise ValueError(f"array file {path} failed its checksum; it is corrupted")
    return arrays


def read_npy_header(f: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an open ``.npy`` file declares, read from its header only (formats 1.0 and 2.0);
    ValueError for anything else. ``f`` is left at the start of the data."""
    version = np.lib.format.read_magic(f)
    read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if read is None:
        raise ValueError(f".npy format {version[0]}.{version[1]} is not read here (1.0 or 2.0)")
    shape, _, dtype = read(f, max_header_size=_MAX_HEADER)
    return tuple(shape), dtype


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types (IHDR) by name, and the bit depths each allows (PNG specification, section 11.2.2).
PNG_COLOUR_TYPES = {0: ("grayscale", (1, 2, 4, 8, 16)), 2: ("RGB", (8, 16)), 3: ("palette", (1, 2, 4, 8)),
                    4: ("grayscale-alpha", (8, 16)), 6: ("RGBA", (8, 16))}


def read_png_header(f: BinaryIO) -> tuple[int, int, int, str]:
    """Width, height, bit depth and colour type name that an open PNG file declares in its IHDR chunk, read from
    the first 33 bytes only; ValueError for anything else (not a PNG, a bad IHDR, a depth its type does not
    allow)."""
    head = f.read(33)
    if head[:8] != PNG_SIGNATURE:
        raise ValueError("not a PNG file (no PNG signature)")
    length, kind = int.from_bytes(head[8:12], "big"), head[12:16]
    if len(head) < 33 or kind != b"IHDR" or length != 13:
        raise ValueError("its first chunk is not a 13-byte IHDR (a truncated or damaged PNG)")
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    depth, colour = head[24], head[25]
    if width == 0 or height == 0:
        raise ValueError(f"IHDR declares {width}x{height} pixels")
    name, depths = PNG_COLOUR_TYPES.get(colour, (None, ()))
    if name is None or depth not in depths:
        raise ValueError(f"IHDR declares colour type {colour} at bit depth {depth}, which PNG does not allow")
    return width, height, depth, name


def _member_problem(path: str | os.PathLike) -> str | None:
    """Why the ``.npz`` at ``path`` could make a reader allocate more than the file holds, or None: a compressed
    member, or one whose ``.npy`` header declares more bytes than the member has (read from the headers only)."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                return (f"member {info.filename} is compressed ({info.compress_size} bytes that unpack to "
                        f"{info.file_size}); its arrays are stored uncompressed")
            with z.open(info) as f:
                shape, dtype = read_npy_header(f)
                declared = math.prod(shape) * dtype.itemsize
                if declared > info.file_size - f.tell():
                    return (f"member {info.filename} declares an array {list(shape)} of {dtype} ({declared} bytes) "
                            f"but holds {info.file_size - f.tell()}")
    return None


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


def save_values(path: str | os.PathLike, values: np.ndarray, meta: dict[str, Any],
                std: np.ndarray | None = None) -> None:
    """A method's values (``[n]`` global or ``[n, T, m]`` per sample, float64) with JSON metadata, and their
    standard errors ``std`` (same shape) when the estimator has them.

    ``meta`` gains ``torch_threads`` (torch's intra-op thread count, if torch is loaded), unless it has one: float
    sums, and so the last bits of the values, depend on it (docs/results.md).
    """
    torch = sys.modules.get("torch")
    meta = {"torch_threads": torch.get_num_threads() if torch is not None else None, **meta}
    arrays = {"values": np.asarray(values, dtype=np.float64), "meta": np.array(json.dumps(meta, default=json_default))}
    if std is not None:
        arrays["std"] = np.asarray(std, dtype=np.float64)
    save_npz(path, **arrays)


def load_values(path: str | os.PathLike, *, n: int | None = None, n_test: int | None = None,
                n_classes: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Inverse of :func:`save_values`; errors name the file.

    Given ``n`` (training points), ``n_test`` (T, samples valued) and ``n_classes`` (m), the values must have
    shape ``[n]`` (global) or ``[n, T, m]`` (per sample); a ``per_sample`` scope in the metadata requires the latter.
    """
    arrays = load_npz(path)
    if "values" not in arrays or "meta" not in arrays:
        raise ValueError(f"{path} is not a values file (needs arrays 'values' and 'meta')")
    values, meta = arrays["values"], json.loads(str(arrays["meta"]))
    _check_values_shape(path, values.shape, meta.get("scope"), n, n_test, n_classes)
    if not np.isfinite(values).all():
        raise ValueError(f"values file {path} contains NaN or Inf")
    return values, meta


def split_sizes(split: dict[str, np.ndarray]) -> dict[str, int]:
    """``n``, ``n_test`` and ``n_classes`` of a loaded ``split.npz``: the keywords :func:`load_values` checks."""
    return {"n": len(split["y_train"]), "n_test": len(split["y_test"]), "n_classes": int(split["n_classes"])}


def _check_values_shape(path: str | os.PathLike, shape: tuple[int, ...], scope: Any, n: int | None,
                        n_test: int | None, n_classes: int | None) -> None:
    """ValueError naming ``path`` unless ``shape`` is ``[n]`` or ``[n, T, m]`` for the given sizes (None: any)."""
    want = [("n", n), ("T", n_test), ("m", n_classes)]
    if len(shape) not in (1, 3) or (scope == "per_sample" and len(shape) != 3):
        raise ValueError(f"values file {path} holds values of shape {list(shape)}; expected [n, T, m] per sample "
                         f"or [n] global")
    for (name, size), got in zip(want, shape):
        if size is not None and got != int(size):
            expected = ", ".join(f"{k} = {v}" for k, v in want[: len(shape)] if v is not None)
            raise ValueError(f"values file {path} holds values of shape {list(shape)} with {name} = {got}; "
                             f"expected {expected}")
