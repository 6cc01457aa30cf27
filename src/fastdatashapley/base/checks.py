"""Checks of arguments and untrusted input: counts, player numbers, images, batch sizes and input files (numpy only).

Each check raises a ValueError that names the thing at fault. Checks of state dicts read from files, which need
torch, are in :mod:`fastdatashapley.engine.states`.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import numpy as np

#: Pixels may exceed [0, 1] by this much (float rounding) before they are rejected; they are clipped.
PIXEL_TOLERANCE = 1e-6


def check_pixels(x: Any, name: str = "image") -> np.ndarray:
    """``x`` as float32 after checking it holds numbers, all finite, in [0, 1] (within :data:`PIXEL_TOLERANCE`).

    Values within the tolerance outside [0, 1] are clipped. ``name`` starts each error message.
    """
    arr = check_features(x, name)
    if arr.size and (arr.min() < -PIXEL_TOLERANCE or arr.max() > 1 + PIXEL_TOLERANCE):
        low, high = float(arr.min()), float(arr.max())
        raise ValueError(f"{name} has values in [{low:.4g}, {high:.4g}]; they must lie in [0, 1] (divide 8-bit images "
                         "by 255)")
    return np.clip(arr.astype(np.float32), 0, 1)


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as an int >= 1; ValueError otherwise."""
    return check_count(batch_size, "batch_size")


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (bools and non-integers rejected); ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_n(n: Any, name: str = "n") -> int:
    """``n`` as an int, at least 2 (a game of one player has nothing to estimate)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"{name} must be an integer >= 2, got {n!r}")
    return int(n)


def check_regular_file(path: str | os.PathLike, what: str) -> None:
    """ValueError unless ``path`` is a regular file (following links): the message says whether it is missing, a
    directory or another kind of file (a FIFO, which would block a reader, a socket or a device). ``what`` names
    the file in the message (``"image file"``)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ValueError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{what} {path} is a directory, not a file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {path} is not a regular file (a FIFO, socket or device)")


def check_features(x: Any, name: str = "row") -> np.ndarray:
    """``x`` as float32 after checking it holds numbers, all finite: table rows ``[..., 1, 1, d]``, standardised by
    D's statistics, so any finite value (no [0, 1] range as for pixels)."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} holds {arr.dtype} values, not numbers")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr.astype(np.float32)
