"""The ``fastdatashapley`` command.

``fastdatashapley explain --explainer FILE --image PNG|NPY [--label Y] [--top 10] [--pay C --negative keep|clip]
[--json] [--grid out.png]`` values every training point for one new image in one forward pass, prints the
top contributors (rank, training index, training label, value and, with ``--pay``, the share of C; paper
section 2.1), and can draw the image beside its top training images (paper Figures 5 and 6).
Without ``--label`` the service model's predicted label is explained.

For an explainer trained on a table (``data.dataset: table``), ``--row FILE.csv|.parquet [--row-index K]`` gives the
input instead of ``--image``: data row K (0-based) of a table with the explainer's feature columns, raw as in
the training file; they are standardised by D's mean and std, as in training. Where the table had a
``data.provider`` column, the output also ranks the providers and ``--pay`` pays them.

``fastdatashapley info --explainer FILE [--json]`` prints what an explainer file holds.

Images are never resized or converted between colour and grayscale; they must match the explainer:

* ``.npy``: ``[C, H, W]``, ``[1, C, H, W]``, or ``[H, W]`` for 1-channel explainers; values in [0, 1].
* ``.png``: H x W pixels. Grayscale PNGs (modes 1, L, LA, I;16) feed 1-channel explainers; RGB(A) and
  palette PNGs feed 3-channel ones, and also 1-channel ones when all three channels are equal (a lossless
  grayscale). Alpha is dropped. 8-bit values are divided by 255, 16-bit grayscale ones by 65535; Pillow reads
  16-bit colour and grayscale-alpha PNGs at 8 bits. The size is read from the PNG header before any pixel is
  decoded.

Errors (bad file, shape, channels, value range, label, amount, a file that cannot be written) print one line to
stderr and exit with status 2. ``--json`` is strict JSON: never ``NaN`` or ``Infinity``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .base.checks import check_pixels, check_regular_file
from .base.io import read_npy_header, read_png_header
from .explainers.model import Explainer
from .explainers.payout import MAX_AMOUNT, POLICIES, provider_totals, split_payment


def read_image(path: str | Path, in_shape: tuple[int, int, int]) -> np.ndarray:
    """The image file ``path`` as float32 ``[C, H, W]`` in [0, 1], checked against ``in_shape`` (module docstring)."""
    path = Path(path)
    c, h, w = in_shape
    want = f"{c} channel{'s' if c > 1 else ''} of {h}x{w} pixels"
    check_regular_file(path, "image file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path, in_shape, want)
    if suffix == ".png":
        return _read_png(path, in_shape, want)
    raise ValueError(f"image file {path} must be .png or .npy")


def _read_npy(path: Path, in_shape: tuple[int, int, int], want: str) -> np.ndarray:
    """A ``.npy`` image; its header's dtype and shape are checked before any pixel is read."""
    c, h, w = in_shape
    try:
        with open(path, "rb") as f:
            shape, dtype = read_npy_header(f)
    except Exception as exc:
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    if dtype.kind not in "biuf":
        raise ValueError(f"image file {path} holds {dtype} values, not numbers")
    if len(shape) == 2 and c == 1 or len(shape) == 4 and shape[0] == 1:
        shape = (1, *shape) if len(shape) == 2 else shape[1:]
    if shape != (c, h, w):
        raise ValueError(f"image file {path} has shape {list(shape)}; this explainer takes [{c}, {h}, {w}] ({want})")
    try:
        x = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    return check_pixels(x.reshape(c, h, w).astype(np.float32), f"image file {path}")


def _read_png(path: Path, in_shape: tuple[int, int, int], want: str) -> np.ndarray:
    """A PNG image. Its size is read from its IHDR chunk before Pillow opens it, so the pixels of an image of the
    wrong size (a decompression bomb among them) are never decoded; any error of the decoder (a damaged or
    truncated file, a text or ICC chunk that inflates past Pillow's limits) is one line naming the file."""
    from PIL import Image

    c, h, w = in_shape
    try:
        with open(path, "rb") as f:
            width, height, depth, _ = read_png_header(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    if (width, height) != (w, h):
        raise ValueError(f"image file {path} is {width}x{height} pixels (width x height); this explainer takes "
                         f"{w}x{h}; resize it first (nothing is resized here)")
    try:
        with Image.open(path, formats=["PNG"]) as img:
            img.load()
            mode = img.mode
            arr, scale = _png_levels(img, depth)
    except Exception as exc:
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    arr = arr.astype(np.float32) / scale
    x = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if x.shape[0] == 3 and c == 1:
        if not (np.array_equal(x[0], x[1]) and np.array_equal(x[0], x[2])):
            raise ValueError(f"image file {path} is a colour ({mode}) PNG; this explainer takes {want}: convert it to grayscale first")
        x = x[:1]
    elif x.shape[0] != c:
        raise ValueError(f"image file {path} is a grayscale ({mode}) PNG; this explainer takes {want}: convert it to RGB first")
    return x


def _png_levels(img, depth: int) -> tuple[np.ndarray, float]:  # type: ignore[no-untyped-def]
    """The decoded PNG ``img`` as an array (``[H, W]`` grey or ``[H, W, 3]`` RGB, alpha dropped) and the level
    that is 1: 65535 for 16-bit grayscale, else 255 (Pillow reads 16-bit colour and grey-alpha at 8 bits)."""
    mode = img.mode
    if mode in ("1", "L", "LA"):
        return np.asarray(img.convert("L")), 255.0
    if mode.startswith("I"):  # 16-bit grayscale: I;16 (or I from an older Pillow)
        return np.asarray(img).astype(np.float32), 65535.0 if depth == 16 else 255.0
    if mode in ("RGB", "RGBA", "P", "PA"):
        return np.asarray(img.convert("RGB")), 255.0
    raise ValueError(f"PNG mode {mode} is not supported (use grayscale or RGB)")


def read_row(path: str | Path, index: int, explainer: Explainer) -> np.ndarray:
    """Data row ``index`` (0-based) of the CSV or Parquet file ``path`` as the explainer's input ``[1, 1, 1, d]``:
    its feature columns, standardised as in training (:meth:`Explainer.table_rows`)."""
    import pandas as pd

    path = Path(path)
    check_regular_file(path, "--row")
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--row {path}: a table row is read from a .csv or .parquet file")
    try:
        frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except ImportError:
        raise ValueError(f"--row {path}: reading Parquet needs the package pyarrow (or save the row as CSV)") from None
    except (ValueError, OSError) as exc:
        raise ValueError(f"--row {path}: cannot read it as a table ({str(exc).splitlines()[0]})") from None
    if not 0 <= index < len(frame):
        raise ValueError(f"--row-index {index} is out of range: {path} has {len(frame)} data rows (0..{len(frame) - 1})")
    return explainer.table_rows(frame.iloc[[index]], f"--row {path}")


def explain(args: argparse.Namespace) -> dict:
    """Run ``explain`` and return the result as a dict (printed by :func:`main`)."""
    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    if args.pay is not None and not (np.isfinite(args.pay) and 0 <= args.pay <= MAX_AMOUNT):
        raise ValueError(f"--pay must be a finite amount >= 0 and at most {MAX_AMOUNT:g}, got {args.pay}")
    explainer = Explainer.load(args.explainer)
    if args.row is not None:
        x = read_row(args.row, args.row_index, explainer)
    else:
        x = explainer.check_images(read_image(args.image, explainer.in_shape)[None])
    predicted = int(explainer.predict(x)[0])
    label = predicted if args.label is None else int(explainer.check_labels(args.label, 1)[0])
    values = explainer.values(x)[0, :, label]  # [n]
    order = np.argsort(-values, kind="stable")[: args.top]
    shares = split_payment(values, args.pay, args.negative) if args.pay is not None else None
    rows = [
        {"rank": r + 1, "index": int(i), "train_label": int(explainer.y_train[i]), "value": float(values[i]),
         **({"payment": float(shares[i])} if shares is not None else {})}
        for r, i in enumerate(order)
    ]
    given = {"row": str(args.row), "row_index": args.row_index} if args.row is not None else {"image": str(args.image)}
    result = {**given, "label": label, "predicted": predicted, "method": explainer.method,
              "dataset": explainer.dataset, "n": explainer.n, "sum_of_values": float(values.sum()), "top": rows}
    if shares is not None:
        result["payments"] = {"amount": args.pay, "policy": args.negative, "shares": shares.tolist()}
    if explainer.providers is not None:
        result["providers"] = provider_rows(explainer, values, args)
        if shares is not None:
            result["payments"]["providers"] = {r["provider"]: r["payment"] for r in result["providers"]}
    if args.grid and args.row is not None:
        raise ValueError("--grid draws images; a table row has none (leave out --grid)")
    if args.grid:
        from .evaluation.figures import plot_top_contributors, save_figure

        title = f"{explainer.method.upper()}: top-{len(order)} training images for label {label}"
        fig = plot_top_contributors(x, np.array([label]), np.array([predicted]), explainer.x_train, explainer.y_train,
                                    values[:, None], top=len(order), title=title)
        save_figure(fig, args.grid)
        result["grid"] = str(args.grid)
    return result


def provider_rows(explainer: Explainer, values: np.ndarray, args: argparse.Namespace) -> list[dict]:
    """Every provider, by value (the sum of its points' ``values [n]``), with its share of ``--pay`` (split over the
    providers' values under ``--negative``)."""
    of_point, names = explainer.provider_of(), explainer.providers
    totals = provider_totals(values, of_point, len(names))
    shares = split_payment(totals, args.pay, args.negative) if args.pay is not None else None
    points = np.bincount(of_point, minlength=len(names))
    return [{"rank": r + 1, "provider": names[j], "points": int(points[j]), "value": float(totals[j]),
             **({"payment": float(shares[j])} if shares is not None else {})}
            for r, j in enumerate(np.argsort(-totals, kind="stable"))]


def format_table(result: dict) -> str:
    """The ``explain`` result as a plain-text table."""
    pay = "payments" in result
    head = f"{'rank':>4} {'index':>6} {'label':>5} {'value':>12}" + (f" {'payment':>12}" if pay else "")
    lines = [f"{result['method']} ({result['dataset'] or 'dataset ?'}): label {result['label']} (predicted "
             f"{result['predicted']}); the values of {result['n']} training points sum to {result['sum_of_values']:.5f}",
             head, "-" * len(head)]
    for r in result["top"]:
        line = f"{r['rank']:>4} {r['index']:>6} {r['train_label']:>5} {r['value']:>12.6f}"
        lines.append(line + (f" {r['payment']:>12.4f}" if pay else ""))
    if pay:
        lines.append(f"payment {result['payments']['amount']:g} split among all {result['n']} points, "
                     f"negative values: {result['payments']['policy']}")
    if "providers" in result:
        shown = result["providers"][: len(result["top"])]
        head = f"{'rank':>4} {'provider':>16} {'points':>6} {'value':>12}" + (f" {'payment':>12}" if pay else "")
        lines += [f"top {len(shown)} of {len(result['providers'])} providers", head, "-" * len(head)]
        for r in shown:
            line = f"{r['rank']:>4} {r['provider'][:16]:>16} {r['points']:>6} {r['value']:>12.6f}"
            lines.append(line + (f" {r['payment']:>12.4f}" if pay else ""))
    if "grid" in result:
        lines.append(f"grid written to {result['grid']}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastdatashapley", description="Real-time training data valuation (Fast-DataShapley).")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("explain", help="value every training point for one image")
    e.add_argument("--explainer", required=True, help="explainer file (results/<run>/explainers/<method>.pt)")
    given = e.add_mutually_exclusive_group(required=True)
    given.add_argument("--image", help=".png or .npy image of exactly the explainer's input shape")
    given.add_argument("--row", help=".csv or .parquet table with the explainer's raw feature columns (tables)")
    e.add_argument("--row-index", type=int, default=0, help="which data row of --row to explain (0-based, default 0)")
    e.add_argument("--label", type=int, help="label to explain (default: the service model's prediction)")
    e.add_argument("--top", type=int, default=10, help="how many top contributors to show (default 10)")
    e.add_argument("--pay", type=float, help="amount paid for this prediction, split among the training points")
    e.add_argument("--negative", choices=POLICIES, default="keep",
                   help="negative values in the split: keep (paper formula, default) or clip to 0")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--grid", help="draw the image beside its top training images to this .png/.pdf/.svg")
    i = sub.add_parser("info", help="describe an explainer file")
    i.add_argument("--explainer", required=True)
    i.add_argument("--json", action="store_true", help="print JSON")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastdatashapley`` console script; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        if args.command == "info":
            result = Explainer.load(args.explainer).describe()
            text = "\n".join(f"{k}: {v}" for k, v in result.items())
        else:
            result = explain(args)
            text = format_table(result)
        out = json.dumps(result, indent=2, allow_nan=False) if args.json else text
    except (ValueError, OSError) as exc:
        print(f"fastdatashapley: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
