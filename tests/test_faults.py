"""Faults while the workflow runs, and hostile tables it reads (issue 25), on real snakemake runs of config/ci.yaml
and on real files: SIGTERM and SIGINT in a shard and in a merge, a full disk, a read-only results folder, and
utility tables that hold NaN or inf under a valid checksum.

Each workflow case works on a copy of the session's uninterrupted ci run (``ci_run``) and compares what it ends
with against that run. A job is signalled while tests/hold_plugin.py holds it at one of its log lines, so what has
run when the signal arrives is a condition of the test, not of the machine's speed or load.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import run, saved  # noqa: F401  (saved: a small FDS explainer file, built once for this module)
from test_hostile_input import capped
from workflow_helpers import (GROUP, JOB, SNAKEMAKE, CI_CONFIG, HeldRun, copy_run, dry_run_jobs, dry_run_outputs,
                              hold_config, results_digest, snakemake, undo)

from fastdatashapley.base.io import load_npz, save_npz, write_json
from fastdatashapley.cli import read_image
from fastdatashapley.engine.service import ServiceModel
from fastdatashapley.engine.training import TrainerSpec, init_state
from fastdatashapley.engine.utility_table import UtilityTable
from fastdatashapley.evaluation.figures import pyplot, save_figure
from fastdatashapley.evaluation.tables import write_table

RUN = "results/ci"
LDS_SHARD, LDS_TABLE, LDS_CSV = f"{RUN}/shards/lds-full/0.npz", f"{RUN}/utility/lds-full.npz", f"{RUN}/tables/lds.csv"
# job -> (its output, its log, the log line it is held at): the shard has read its inputs and loaded torch and is
# about to train; the merge has read and merged its shards and is about to save.
HELD = {"shard": (LDS_SHARD, f"{RUN}/logs/shards/lds-full/0.log", "training"),
        "merge": (LDS_TABLE, f"{RUN}/logs/merge/lds-full.log", "merged")}
ROOT_ONLY = "mounting a tmpfs needs root"


def temp_files(workdir: Path) -> list[Path]:
    """Files an atomic write leaves while it runs (``.<name>.<random>``) under ``results/``."""
    return [p for p in (workdir / "results").rglob(".*") if p.is_file()]


# -- SIGTERM and SIGINT, then --rerun-incomplete ----------------------------------------------------------------

# (job, signal, whom it reaches, what snakemake prints, what becomes of the job's output)
SIGNALS = [
    ("shard", signal.SIGTERM, JOB, "died with <Signals.SIGTERM: 15>", "gone"),
    ("shard", signal.SIGINT, GROUP, "Terminating processes on user request", "gone"),  # Ctrl-C in the terminal
    ("merge", signal.SIGINT, JOB, "died with <Signals.SIGINT: 2>", "gone"),
    # snakemake alone: it starts nothing new and waits for the running job, which the test then lets finish
    ("merge", signal.SIGTERM, SNAKEMAKE, "Will exit after finishing currently running jobs", "complete"),
    ("merge", signal.SIGINT, SNAKEMAKE, "Terminating processes on user request", "incomplete"),
]


@pytest.mark.slow
@pytest.mark.parametrize("job, sig, to, printed, left", SIGNALS,
                         ids=[f"{j}-{s.name}-to-{t}" for j, s, t, _, _ in SIGNALS])
def test_a_signal_then_rerun_incomplete_restores_every_output(ci_run, tmp_path, job, sig, to, printed, left):
    """The run is the ci run stopped before the lds chain (``job`` and what follows it); ``sig`` arrives while
    ``job`` runs. Afterwards ``--rerun-incomplete`` ends with every output equal to the uninterrupted run's."""
    work = copy_run(ci_run, tmp_path / "work")
    cfg = hold_config(tmp_path / "c.yaml")
    output, log, line = HELD[job]
    undo(work, cfg, output)
    with HeldRun(work, cfg, log, line) as run:
        run.held()
        run.signal(sig, to)
        if to == SNAKEMAKE:
            run.wait_printed(printed)
            run.release()
        assert run.wait() != 0
        assert printed in run.text(), run.text()[-3000:]
    assert (work / output).exists() == (left != "gone"), left
    assert not (work / LDS_CSV).exists(), "a job started after the signal"
    assert temp_files(work) == [] and not list(work.glob(".snakemake/locks/*"))
    if left == "complete":
        assert dry_run_jobs(work, cfg) == {"lds_table": 1, "all": 1}
    if left == "incomplete":  # the merge finished, but snakemake never recorded it: a plain run refuses
        proc = snakemake(work, "--dry-run", config=cfg)
        assert proc.returncode != 0 and "--rerun-incomplete" in proc.stdout + proc.stderr
    proc = snakemake(work, "--rerun-incomplete", config=cfg)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results_digest(work) == results_digest(ci_run)


# -- a full disk ----------------------------------------------------------------------------------------------------


@contextmanager
def tmpfs(folder: Path, size: str):
    """A tmpfs of ``size`` mounted on ``folder`` (skips the test where mounting is not allowed)."""
    if os.geteuid() != 0:
        pytest.skip(ROOT_ONLY)
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        # lazily: a writer that failed may still hold a file open there until it is collected
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte with one file; return it."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing is left to flush at close
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def small_service() -> ServiceModel:
    """An untrained digits service model (its file is a few KiB): what the torch writers save."""
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 10)
    init = init_state(spec, 0)
    return ServiceModel(spec, init, init, 0)


def writers() -> dict:
    """One of each atomic writer of the package: name -> (file name, write(path))."""
    fig, ax = pyplot().subplots()
    ax.imshow(np.random.default_rng(0).random((200, 200)))
    return {
        "save_npz": ("a.npz", lambda p: save_npz(p, x=np.zeros(100_000))),
        "write_json": ("a.json", lambda p: write_json(p, {"x": "y" * 100_000})),
        "write_table": ("a.csv", lambda p: write_table(pd.DataFrame({"x": np.arange(100_000)}), p)),
        "save_figure": ("a.png", lambda p: save_figure(fig, p)),
        "torch.save": ("a.pt", lambda p: small_service().save(p)),
    }


def test_a_full_disk_fails_every_writer_and_leaves_no_partial_file(tmp_path):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        filler = fill(disk)
        for name, (file, write) in writers().items():
            with pytest.raises((OSError, RuntimeError)):
                write(disk / file)
            assert sorted(disk.iterdir()) == [filler], name


@pytest.mark.parametrize("name", ["save_npz", "torch.save"])
def test_a_full_disk_error_names_the_file(tmp_path, name):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk)
        file, write = writers()[name]
        with pytest.raises(Exception) as info:
            write(disk / file)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC, repr(info.value)
    assert str(disk / file) in str(info.value), str(info.value)


@pytest.mark.slow
def test_a_full_disk_fails_the_merge_cleanly_and_the_rerun_recovers(ci_run, tmp_path):
    """The utility folder is a full tmpfs (holding the run's other tables) when the lds merge saves."""
    work = copy_run(ci_run, tmp_path / "work")
    undo(work, CI_CONFIG, LDS_TABLE)
    folder = work / RUN / "utility"
    kept = folder.rename(work / "utility.disk")  # outside results/, so no rule sees it
    with tmpfs(folder, "8m"):
        for path in kept.iterdir():
            shutil.copy2(path, folder / path.name)  # same times: snakemake sees the same run
        filler = fill(folder)
        proc = snakemake(work, config=CI_CONFIG)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "Error in rule merge" in out and f"output: {LDS_TABLE}" in out, out[-3000:]
        assert "No space left on device" in (work / HELD["merge"][1]).read_text()
        assert sorted(p.name for p in folder.iterdir()) == sorted([filler.name] + [p.name for p in kept.iterdir()])
        assert all((folder / p.name).read_bytes() == p.read_bytes() for p in kept.iterdir())
        assert temp_files(work) == [] and not (work / LDS_CSV).exists()
        filler.unlink()
        proc = snakemake(work, config=CI_CONFIG)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert results_digest(work) == results_digest(ci_run)


# -- a read-only results folder ---------------------------------------------------------------------------------------


@contextmanager
def read_only(folder: Path):
    """``folder`` read-only: a read-only bind mount for root (file modes do not stop root), else no write bits."""
    if os.geteuid() == 0:
        proc = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"root ignores file modes, and a read-only bind mount failed: {proc.stderr.strip()}")
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
            yield folder
        finally:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)
        return
    paths = [folder, *folder.rglob("*")]
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in paths}
    for p in reversed(paths):
        p.chmod(modes[p] & ~0o222)
    try:
        yield folder
    finally:
        for p in paths:
            p.chmod(modes[p])


def test_a_read_only_folder_fails_every_writer_and_keeps_the_old_file(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    for name, (file, _) in writers().items():
        (folder / file).write_text(f"computed before: {name}")
    with read_only(folder):
        for name, (file, write) in writers().items():
            with pytest.raises(OSError, match="Read-only file system|Permission denied"):
                write(folder / file)
            assert (folder / file).read_text() == f"computed before: {name}", name
        assert sorted(p.name for p in folder.iterdir()) == sorted(file for file, _ in writers().values())


def test_a_read_only_folder_error_names_the_file(tmp_path):
    with read_only(tmp_path):
        with pytest.raises(OSError) as info:
            save_npz(tmp_path / "a.npz", x=np.zeros(3))
    assert str(tmp_path / "a.npz") in str(info.value)  # not only its temporary file .a.npz.<random>.npz


@pytest.mark.slow
def test_a_read_only_results_folder_stops_the_run_and_loses_nothing(ci_run, tmp_path):
    """Rerunning a finished job (``--forcerun``), and finishing a run that stopped before its lds chain, both stop
    with an error naming a file of the results folder; no file there changes. Once writable, the run finishes."""
    work = copy_run(ci_run, tmp_path / "work")
    results = work / "results"
    forced = dry_run_outputs(work, CI_CONFIG, "--forcerun", LDS_TABLE)  # the merge's and its consumers' outputs
    with read_only(results):
        proc = snakemake(work, "--dry-run", config=CI_CONFIG)
        assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr
        proc = snakemake(work, "--forcerun", LDS_TABLE, config=CI_CONFIG)
        out = proc.stdout + proc.stderr
        # snakemake names the first forced job it checks (the merge or a consumer: its order, not the test's)
        assert proc.returncode != 0 and "Write-protected output files for rule " in out, out[-3000:]
        after = out.split("affected files:", 1)[-1].splitlines()[1:]
        affected = [line.strip() for line in itertools.takewhile(lambda line: line.startswith("    "), after)]
        assert affected and set(affected) <= set(forced), out[-3000:]
    assert results_digest(work) == results_digest(ci_run)
    undo(work, CI_CONFIG, LDS_TABLE)
    before = results_digest(work)
    with read_only(results):
        proc = snakemake(work, config=CI_CONFIG)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        errors = [line for line in out.splitlines()
                  if "Read-only file system: " in line or "Permission denied: " in line]
        assert errors and all(f"'{RUN}/" in line or f"{results}/" in line for line in errors), out[-3000:]
    assert results_digest(work) == before
    proc = snakemake(work, config=CI_CONFIG)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results_digest(work) == results_digest(ci_run)


# -- NaN and inf utilities under a valid checksum -----------------------------------------------------------------


def poison(path: Path, field: str, value: float, at: tuple) -> None:
    """Put ``value`` at ``at`` of array ``field`` of the table file ``path``, rewritten with the library's own
    :func:`save_npz`, so its checksum is valid."""
    arrays = load_npz(path)
    arrays[field] = arrays[field].copy()
    arrays[field][at] = value
    save_npz(path, **arrays)
    assert not np.isfinite(load_npz(path)[field][at])  # the checksum passes


@pytest.mark.slow
@pytest.mark.parametrize("field, at, value", [
    ("utilities", (5, 3, 2), np.nan), ("utilities", (0, 0, 0), np.inf), ("null", (1, 4), -np.inf),
    ("grand", (0, 9), np.nan),
])
def test_a_table_with_non_finite_utilities_is_rejected_by_name(ci_run, tmp_path, field, at, value):
    path = shutil.copy2(ci_run / LDS_TABLE, tmp_path / "lds-full.npz")
    poison(path, field, value, at)
    with pytest.raises(ValueError) as info:
        UtilityTable.load(path)
    message = str(info.value)
    assert str(path) in message and field in message and "NaN or infinite" in message, message
    if field == "utilities":
        assert f"rows [{at[0]}]" in message


@pytest.mark.slow
def test_non_finite_utilities_stop_each_explainer_before_it_trains(ci_run, tmp_path):
    """Three tables of the ci run poisoned: each explainer that reads one (fds and fds_paper share the kernel
    table) fails at once, naming its file and array, and writes nothing."""
    work = copy_run(ci_run, tmp_path / "work")
    poisoned = {"kernel-full": ("utilities", (5, 3, 2), np.nan), "kernel-approx": ("grand", (0, 0), -np.inf),
                "gfds_plus-approx": ("null", (2, 1), np.inf)}
    readers = {"fds": "kernel-full", "fds_paper": "kernel-full", "afds": "kernel-approx", "gfds+": "gfds_plus-approx"}
    for table, (field, at, value) in poisoned.items():
        poison(work / RUN / f"utility/{table}.npz", field, value, at)
    assert dry_run_jobs(work, CI_CONFIG)["explainer"] == len(readers)
    proc = snakemake(work, "--keep-going", config=CI_CONFIG)
    assert proc.returncode != 0
    for method, table in readers.items():
        field = poisoned[table][0]
        log = (work / RUN / f"logs/explainers/{method}.log").read_text()
        job = log[log.rindex(" INFO threads: "):]  # this job's part of the log (a job appends to its log)
        assert f"explainer {method}:" not in job and "epochs in" not in job, job  # no epoch trained
        last, error = job.strip().splitlines()[-1], f"ValueError: utility table {RUN}/utility/{table}.npz: {field}"
        assert f" explainer ERROR {error}" in last and "NaN or infinite" in last, (method, last)  # after the time
        assert not (work / RUN / f"explainers/{method}.pt").exists()
        assert not (work / RUN / f"values/per_sample/{method}.npz").exists()


# -- PNG inputs to the CLI: 16-bit, RGBA, palette, 1x1, decompression bombs -----------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, width: int, height: int, depth: int, colour: int, idat: bytes, extra: bytes = b"") -> Path:
    """A PNG written by hand: IHDR (``depth``, colour type ``colour``), the chunks ``extra``, one IDAT holding the
    deflated scanlines ``idat``, IEND. Pillow cannot write 16-bit colour, and would take gigabytes for a bomb."""
    ihdr = struct.pack(">2I5B", width, height, depth, colour, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", idat)
                     + png_chunk(b"IEND", b""))
    return path


def scanlines(rows: np.ndarray) -> bytes:
    """Deflated PNG scanlines (filter 0) of ``rows`` ``[H, W * samples]``, big-endian as PNG stores them."""
    big = rows.astype(rows.dtype.newbyteorder(">"))
    return zlib.compress(b"".join(b"\0" + row.tobytes() for row in big))


def deflated_zeros(size: int) -> bytes:
    """A zlib stream of ``size`` zero bytes (about a thousandth of that), built 1 MiB at a time."""
    c = zlib.compressobj(9)
    return b"".join(c.compress(bytes(2**20)) for _ in range(size // 2**20)) + c.flush()


@pytest.fixture(scope="module")
def grey(saved) -> np.ndarray:
    """The saved explainer's test image as 8-bit grey levels ``[8, 8]``."""
    return np.round(saved["quantised"] * 255).astype(np.uint8)


def explain_line(capsys, saved, image: Path) -> tuple[int, str, str]:
    """``fastdatashapley explain --json`` of ``image`` with the saved explainer: (status, stdout, stderr)."""
    return run(capsys, "explain", "--explainer", saved["path"], "--image", image, "--json")


def test_sixteen_bit_pngs(saved, grey, capsys, tmp_path):
    """16-bit grayscale is read at full depth (/ 65535); 16-bit RGB, which Pillow reads at 8 bits, is accepted
    when it is grey, and refused in one line when it is colour."""
    levels = grey.astype(np.uint16) * 256 + np.arange(64, dtype=np.uint16).reshape(8, 8)  # low bytes that matter
    path = write_png(tmp_path / "grey16.png", 8, 8, 16, 0, scanlines(levels))
    assert np.array_equal(read_image(path, (1, 8, 8))[0], levels / np.float32(65535))
    np.save(tmp_path / "grey16.npy", (levels / np.float32(65535))[None])
    code, out, _ = explain_line(capsys, saved, path)
    from_npy = json.loads(explain_line(capsys, saved, tmp_path / "grey16.npy")[1])
    assert code == 0 and {**json.loads(out), "image": None} == {**from_npy, "image": None}
    rgb = np.repeat(levels, 3, axis=1)  # [8, 8 * 3]: R = G = B
    path = write_png(tmp_path / "rgb16.png", 8, 8, 16, 2, scanlines(rgb))
    assert np.array_equal(read_image(path, (1, 8, 8))[0], (levels >> 8) / np.float32(255))  # the high byte
    rgb[:, 1::3] = 65535 - rgb[:, 1::3]
    path = write_png(tmp_path / "colour16.png", 8, 8, 16, 2, scanlines(rgb))
    code, out, err = explain_line(capsys, saved, path)
    assert (code, out) == (2, "") and err == (f"fastdatashapley: error: image file {path} is a colour (RGB) PNG; this "
                                              "explainer takes 1 channel of 8x8 pixels: convert it to grayscale "
                                              "first\n"), err


def test_rgba_and_palette_pngs(saved, grey, capsys, tmp_path):
    """Alpha is dropped and a palette is looked up: grey ones read as the grey image, colour ones are one line."""
    from PIL import Image

    alpha = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4  # alpha of every level, 0 (transparent) included
    Image.fromarray(np.stack([grey] * 3 + [alpha], -1), "RGBA").save(tmp_path / "grey_rgba.png")
    palette = Image.fromarray(grey).convert("P")  # a palette of grey entries
    palette.save(tmp_path / "grey_palette.png")
    with Image.open(tmp_path / "grey_palette.png") as img:
        assert img.mode == "P"
    expected = read_image(saved["folder"] / "x.png", (1, 8, 8))
    for name in ("grey_rgba.png", "grey_palette.png"):
        assert np.array_equal(read_image(tmp_path / name, (1, 8, 8)), expected), name
        code, out, _ = explain_line(capsys, saved, tmp_path / name)
        assert code == 0 and json.loads(out)["top"], name
    colour = np.stack([grey, grey[::-1], grey, alpha], -1)
    Image.fromarray(colour, "RGBA").save(tmp_path / "colour_rgba.png")
    Image.fromarray(colour[..., :3]).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "colour_palette.png")
    for name, mode in (("colour_rgba.png", "RGBA"), ("colour_palette.png", "P")):
        code, out, err = explain_line(capsys, saved, tmp_path / name)
        assert (code, out) == (2, "") and err == (f"fastdatashapley: error: image file {tmp_path / name} is a colour "
                                                  f"({mode}) PNG; this explainer takes 1 channel of 8x8 pixels: "
                                                  "convert it to grayscale first\n"), err


def test_a_one_pixel_and_a_damaged_png_are_one_line(saved, capsys, tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    valid = scanlines(np.zeros((8, 8), np.uint8))
    cases = {
        write_png(tmp_path / "truncated.png", 8, 8, 8, 0, valid[:5]): "image file is truncated",
        tmp_path / "dot.png": "is 1x1 pixels (width x height); this explainer takes 8x8; resize it first",
        write_png(tmp_path / "depth.png", 8, 8, 16, 3, valid): "IHDR declares colour type 3 at bit depth 16",
        write_png(tmp_path / "empty.png", 0, 8, 8, 0, valid): "IHDR declares 0x8 pixels",
    }
    (tmp_path / "text.png").write_text("not an image")
    cases[tmp_path / "text.png"] = "not a PNG file (no PNG signature)"
    for path, message in cases.items():
        code, out, err = explain_line(capsys, saved, path)
        assert (code, out) == (2, "") and err.count("\n") == 1, err
        assert err.startswith(f"fastdatashapley: error: ") and str(path) in err and message in err, err


def test_decompression_bombs_are_one_line_in_bounded_memory(saved, tmp_path):
    """A 1 MiB PNG of 30000x30000 pixels (900 MB of grey) is refused from its header; a text or ICC chunk that
    inflates to 1 GiB stops at Pillow's limit; an 8x8 image whose pixel data inflates to 1 GiB decodes its 64
    pixels and no more. Each in a child capped 256 MiB above its imports."""
    side, rows = 30000, 100
    c = zlib.compressobj(9)
    block = c.compress(bytes((1 + side) * rows)) + c.flush(zlib.Z_FULL_FLUSH)  # grey rows, filter 0, all zero
    adler = (((1 + side) * side % 65521) << 16) | 1
    bomb = write_png(tmp_path / "bomb.png", side, side, 8, 0,
                     b"\x78\xda" + block * (side // rows) + c.flush() + struct.pack(">I", adler))
    zeros, pixels = deflated_zeros(2**30), scanlines(np.zeros((8, 8), np.uint8))
    text = write_png(tmp_path / "text.png", 8, 8, 8, 0, pixels, png_chunk(b"zTXt", b"Comment\0\0" + zeros))
    icc = write_png(tmp_path / "icc.png", 8, 8, 8, 0, pixels, png_chunk(b"iCCP", b"icc\0\0" + zeros))
    long = write_png(tmp_path / "long.png", 8, 8, 8, 0, zeros)
    assert max(p.stat().st_size for p in (bomb, text, icc, long)) < 2**21
    child = capped("from fastdatashapley.cli import main", """
        for path in sys.argv[2:]:
            print("status", main(["explain", "--explainer", sys.argv[1], "--image", path, "--top", "1"]))
        """, 256, str(saved["path"]), str(bomb), str(text), str(icc), str(long))
    lines = [line for line in child.out.splitlines() if not line.startswith("CAPPED")]
    errors = [line for line in lines if line.startswith("fastdatashapley: error:")]
    too_large = "Decompressed data too large for PngImagePlugin.MAX_TEXT_CHUNK"
    assert errors == [
        f"fastdatashapley: error: image file {bomb} is 30000x30000 pixels (width x height); this explainer takes "
        "8x8; resize it first (nothing is resized here)",
        f"fastdatashapley: error: cannot read image file {text}: {too_large}",
        f"fastdatashapley: error: cannot read image file {icc}: {too_large}",
    ], child.out
    assert [line for line in lines if line.startswith("status")] == ["status 2"] * 3 + ["status 0"], child.out
    assert "DecompressionBomb" not in child.out and "Traceback" not in child.out, child.out
    assert child.seconds < 10 and child.growth_mib < 64, child
