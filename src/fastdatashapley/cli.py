"""The ``fastdatashapley`` command.

``fastdatashapley explain --explainer FILE --image PNG|NPY [--label Y] [--top 10] [--pay C --negative clip|keep]
[--json] [--grid out.png]`` values every training point for one new image in one forward pass, prints the top
contributors (and the payment split of C, paper section 2.1), and can draw the image beside its top
training images.

Images: ``.npy`` arrays ``[C, H, W]`` or ``[H, W]`` with values in [0, 1]; ``.png`` files are read with
Pillow and scaled by 1/255 (grayscale for 1-channel explainers, RGB for 3-channel ones). The size must
be the explainer's input size; nothing is resized.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .explainer import Explainer
from .payout import POLICIES, split_payment


def read_image(path: str | Path, channels: int) -> np.ndarray:
    """An image file as float32 ``[C, H, W]`` in [0, 1] (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image file {path} does not exist")
    if path.suffix.lower() == ".npy":
        x = np.load(path, allow_pickle=False).astype(np.float32)
        if x.ndim == 2:
            x = x[None]
    elif path.suffix.lower() == ".png":
        from PIL import Image

        with Image.open(path) as img:
            arr = np.asarray(img.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / 255.0
        x = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    else:
        raise ValueError(f"image file {path} must be .png or .npy")
    return x


def explain(args: argparse.Namespace) -> dict:
    """Run ``explain`` and return the result as a dict (also printed by :func:`main`)."""
    explainer = Explainer.load(args.explainer)
    x = explainer.check_images(read_image(args.image, explainer.service.spec.in_shape[0]))
    predicted = int(explainer.service.proba(x)[0].argmax())
    label = predicted if args.label is None else args.label
    if not 0 <= label < explainer.m:
        raise ValueError(f"--label {label} is out of range: this explainer's labels are 0..{explainer.m - 1}")
    values = explainer.values(x)[0, :, label]  # [n]
    order = np.argsort(-values, kind="stable")[: args.top]
    shares = split_payment(values, args.pay, args.negative) if args.pay is not None else None
    rows = [
        {"rank": r + 1, "index": int(i), "train_label": int(explainer.y_train[i]), "value": float(values[i]),
         **({"payment": float(shares[i])} if shares is not None else {})}
        for r, i in enumerate(order)
    ]
    result = {"image": str(args.image), "label": label, "predicted": predicted, "method": explainer.method,
              "n": explainer.n, "sum_of_values": float(values.sum()), "top": rows}
    if shares is not None:
        result["payments"] = {"amount": args.pay, "policy": args.negative, "shares": shares.tolist()}
    if args.grid:
        from .report import plot_top_contributors

        stem = str(args.grid).removesuffix(".png")
        plot_top_contributors(x, np.array([label]), np.array([predicted]), explainer.x_train, explainer.y_train,
                              values[:, None], stem, top=args.top, title=f"{explainer.method}: top-{args.top} training images")
        result["grid"] = f"{stem}.png"
    return result


def _table(result: dict) -> str:
    pay = "payments" in result
    head = f"{'rank':>4} {'index':>6} {'label':>5} {'value':>11}" + (f" {'payment':>11}" if pay else "")
    lines = [f"{result['method']}: label {result['label']} (predicted {result['predicted']}), "
             f"values of {result['n']} training points sum to {result['sum_of_values']:.4f}", head]
    for r in result["top"]:
        line = f"{r['rank']:>4} {r['index']:>6} {r['train_label']:>5} {r['value']:>11.5f}"
        lines.append(line + (f" {r['payment']:>11.4f}" if pay else ""))
    if pay:
        lines.append(f"payment of {result['payments']['amount']} split with policy {result['payments']['policy']!r}")
    if "grid" in result:
        lines.append(f"grid written to {result['grid']}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fastdatashapley", description="Real-time training data valuation (Fast-DataShapley).")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("explain", help="value every training point for one image")
    e.add_argument("--explainer", required=True, help="explainer file (results/<run>/explainers/<method>.pt)")
    e.add_argument("--image", required=True, help=".png or .npy image of the explainer's input size")
    e.add_argument("--label", type=int, help="label to explain (default: the service model's prediction)")
    e.add_argument("--top", type=int, default=10, help="how many top contributors to show")
    e.add_argument("--pay", type=float, help="amount paid for this prediction, split among the training points")
    e.add_argument("--negative", choices=POLICIES, default="keep", help="negative values: keep (paper) or clip to 0")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.add_argument("--grid", help="write the image beside its top training images to this PNG (and a PDF)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = explain(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"fastdatashapley: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
