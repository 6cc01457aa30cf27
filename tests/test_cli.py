"""The ``fastdatashapley`` command end to end on a small saved explainer: table, JSON, payouts, grid, image
formats and errors; once through the installed console script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastdatashapley.cli import main, read_image
from fastdatashapley.games.coalitions import kernel_masks
from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer
from fastdatashapley.engine.utility_table import UtilityTable
from small_service import one_torch_thread, small_digits_service

N = 12


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A briefly trained FDS explainer on 12 digits of classes 0-2 (additive table), saved to a file."""
    with one_torch_thread():
        ds, idx, service = small_digits_service(per_class=4)
        probes = ds.x[200:300]
        null, grand = service.null_proba(probes), service.proba(probes)
        w = np.random.default_rng(0).dirichlet(np.ones(N))
        phi = w[None, :, None] * (grand - null)[:, None, :]
        masks = kernel_masks(N, 64, seed=1)
        table = UtilityTable(masks, null[None] + np.einsum("sn,pnm->spm", masks.astype(float), phi), null, grand, np.arange(100))
        explainer = fit_explainer(table, probes, np.repeat([0, 1], [80, 20]), service, ds.x[idx], ds.y[idx], method="fds",
                                  settings=ExplainerSettings(net_options={"width": 4, "hidden": 16}, lr=3e-3, max_epochs=3,
                                                             device="cpu", dataset="digits"))
    folder = tmp_path_factory.mktemp("cli")
    explainer.save(folder / "fds.pt")
    image = ds.x[400]
    np.save(folder / "x.npy", image)
    quantised = np.round(image[0] * 255).astype(np.uint8)
    Image.fromarray(quantised).save(folder / "x.png")
    return dict(path=folder / "fds.pt", folder=folder, explainer=explainer, image=image, quantised=quantised / np.float32(255))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_lists_the_top_contributors_with_payments(saved, capsys):
    code, out, _ = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                       "--top", 5, "--pay", 100, "--negative", "clip", "--json")
    assert code == 0
    result = json.loads(out)
    e, x = saved["explainer"], saved["image"][None]
    label = int(e.predict(x)[0])  # no --label: the service model's prediction
    values = e.values(x)[0, :, label]
    assert result["label"] == result["predicted"] == label and result["n"] == N and result["dataset"] == "digits"
    top = np.argsort(-values, kind="stable")[:5]
    assert [r["index"] for r in result["top"]] == top.tolist()
    assert [r["rank"] for r in result["top"]] == [1, 2, 3, 4, 5]
    assert np.allclose([r["value"] for r in result["top"]], values[top])
    assert [r["train_label"] for r in result["top"]] == e.y_train[top].tolist()
    shares = np.array(result["payments"]["shares"])
    assert shares.sum() == pytest.approx(100) and (shares >= 0).all()
    assert np.allclose(shares, np.clip(values, 0, None) / np.clip(values, 0, None).sum() * 100)
    assert result["sum_of_values"] == pytest.approx(float(e.service.proba(x)[0, label] - e.service.null_proba(x)[0, label]), abs=1e-6)


def test_table_output_for_a_chosen_label_and_png_input(saved, capsys):
    e, x = saved["explainer"], saved["quantised"][None]  # the PNG is read as its 8-bit grey levels / 255
    predicted = int(e.predict(x)[0])
    code, out, _ = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.png", "--pay", 10)
    assert code == 0
    lines = out.splitlines()
    assert f"label {predicted} (predicted {predicted})" in lines[0]
    assert lines[1].split() == ["rank", "index", "label", "value", "payment"]
    assert len(lines) == 3 + 10 + 1  # header, columns, rule, 10 rows (default --top), payment note
    values = e.values(x)[0, :, predicted]
    first = lines[3].split()
    assert int(first[1]) == int(np.argmax(values)) and float(first[3]) == pytest.approx(values.max(), abs=1e-6)
    assert float(first[4]) == pytest.approx(values.max() / values.sum() * 10, abs=1e-4)
    other = (predicted + 1) % 3
    code, out, _ = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.png", "--label", other)
    assert code == 0 and f"label {other} (predicted {predicted})" in out and "payment" not in out
    total = e.values(x)[0, :, other].sum()
    assert float(out.split("sum to ")[1].split()[0]) == pytest.approx(total, abs=1e-5)
    if total <= 0:  # the paper's formula is undefined for a non-positive total
        code, _, err = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.png",
                           "--label", other, "--pay", 10)
        assert code == 2 and "cannot split a payment" in err


def test_grid_is_written_atomically_where_asked(saved, capsys, tmp_path):
    for name in ("grid.png", "grid.pdf"):
        code, out, _ = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                           "--grid", tmp_path / "figs" / name)
        assert code == 0 and f"grid written to {tmp_path / 'figs' / name}" in out
    assert (tmp_path / "figs" / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "figs" / "grid.pdf").read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["grid.pdf", "grid.png"]  # no temp files left
    with Image.open(tmp_path / "figs" / "grid.png") as img:
        assert img.width > 4 * img.height  # one row: the image and its 10 top training images


def test_images_must_match_the_explainer(saved, capsys, tmp_path):
    folder = saved["folder"]
    grey = (saved["quantised"] * 255).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, -1)).save(tmp_path / "grey_rgb.png")
    assert np.array_equal(read_image(tmp_path / "grey_rgb.png", (1, 8, 8)), read_image(folder / "x.png", (1, 8, 8)))
    colour = np.stack([grey, grey[::-1], grey], -1)
    Image.fromarray(colour).save(tmp_path / "colour.png")
    Image.fromarray(np.zeros((10, 8), np.uint8)).save(tmp_path / "tall.png")
    np.save(tmp_path / "rgb.npy", np.zeros((3, 8, 8), np.float32))
    np.save(tmp_path / "bright.npy", np.full((8, 8), 255.0))
    np.save(tmp_path / "nan.npy", np.full((1, 8, 8), np.nan))
    (tmp_path / "x.jpg").write_bytes(b"jpeg")
    cases = [
        (tmp_path / "colour.png", "colour .*convert it to grayscale"),
        (tmp_path / "tall.png", "8x10 pixels .*takes 8x8; resize it first"),
        (tmp_path / "rgb.npy", r"shape \[3, 8, 8\]; this explainer takes \[1, 8, 8\]"),
        (tmp_path / "bright.npy", r"values in \[255, 255\]; they must lie in \[0, 1\]"),
        (tmp_path / "nan.npy", "NaN"),
        (tmp_path / "x.jpg", "must be .png or .npy"),
        (tmp_path / "missing.npy", "missing.npy does not exist"),
    ]
    for path, message in cases:
        code, out, err = run(capsys, "explain", "--explainer", saved["path"], "--image", path)
        assert code == 2 and out == "" and err.startswith("fastdatashapley: error:"), (path, err)
        assert __import__("re").search(message, err), (path, err)
    # a 2-D array is accepted for a 1-channel explainer, as is a leading batch axis of 1
    np.save(tmp_path / "flat.npy", saved["image"][0])
    np.save(tmp_path / "batch.npy", saved["image"][None])
    for name in ("flat.npy", "batch.npy"):
        assert np.array_equal(read_image(tmp_path / name, (1, 8, 8)), saved["image"])


def test_other_errors_exit_with_status_2(saved, capsys, tmp_path):
    image = saved["folder"] / "x.npy"
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    for argv, message in [
        (["--explainer", saved["path"], "--image", image, "--label", 3], "label 3 is out of range: .*0..2"),
        (["--explainer", tmp_path / "none.pt", "--image", image], "none.pt does not exist"),
        (["--explainer", image, "--image", image], "x.npy"),
        (["--explainer", saved["path"], "--image", image, "--top", 0], "--top must be >= 1"),
        (["--explainer", saved["path"], "--image", image, "--grid", tmp_path / "g.gif"], "must end in .png, .pdf or .svg"),
        (["--explainer", saved["path"], "--row", rows], "explainer fds was not trained on a table"),
        (["--explainer", saved["path"], "--row", image], r"--row .*x.npy: a table row is read from a .csv or .parquet"),
        (["--explainer", saved["path"], "--row", tmp_path / "no.csv"], "--row .*no.csv does not exist"),
    ]:
        code, _, err = run(capsys, "explain", *argv)
        assert code == 2 and __import__("re").search(message, err), err
    for extra in (["--negative", "drop"], ["--row", str(rows)]):  # argparse: a bad choice; --image and --row both
        with pytest.raises(SystemExit):
            main(["explain", "--explainer", str(saved["path"]), "--image", str(image), *extra])
    capsys.readouterr()


def test_info_and_the_console_script(saved, capsys):
    code, out, _ = run(capsys, "info", "--explainer", saved["path"], "--json")
    info = json.loads(out)
    assert code == 0 and info["method"] == "fds" and info["n"] == N and info["m"] == 3 and info["in_shape"] == [1, 8, 8]
    script = Path(sys.executable).with_name("fastdatashapley")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    proc = subprocess.run([str(script), "explain", "--explainer", str(saved["path"]), "--image", str(saved["folder"] / "x.npy"),
                           "--top", "3", "--json"], capture_output=True, text=True, timeout=600, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["top"]) == 3
