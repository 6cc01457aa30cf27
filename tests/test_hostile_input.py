"""Issue 26: the second hostile tour. One test (or more) per numbered defect, on real files, configs and snakemake.

1 atomic writes delete only their own temp files; 2 budget keys are bounded; 3 a small .npz cannot inflate;
4 a YAML alias bomb; 5 a huge PNG (and .npy); 6 explainer files with non-finite or huge weights; 7 integer keys;
8 finite numbers; 9 plugins; 10 huge payments; 11 utilities outside [0, 1]; 12 the report's tables; 13 jobs import
this checkout; 14 weak messages. The hostile inputs of 2-5 run in a child whose address space is capped at a few
hundred MiB above what its imports take, far below what the input asks for, so a regression fails fast instead of
taking gigabytes; the child reports the hostile step's seconds and peak-memory growth.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from test_cli import run, saved  # noqa: F401  (saved: a small FDS explainer file, built once for this module)
from workflow_helpers import CI_CONFIG, ROOT, snakemake, write_config

from fastdatashapley.base.io import TEMP_MARK, atomic_path
from fastdatashapley.engine.utility_table import UtilityTable
from fastdatashapley.evaluation.tables import write_table
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.explainers.payout import split_payment
from fastdatashapley.workflow.config_checks import ConfigError, config_error_message
from fastdatashapley.workflow.config_schema import check_workflow_config

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SRC = ROOT / "src"


# -- the capped child ---------------------------------------------------------------------------------------------

CHILD = r'''
import resource, sys, time
def _status(key):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(key + ":")) / 1024
{setup}
_before = _status("VmRSS")
resource.setrlimit(resource.RLIMIT_AS, (int((_status("VmSize") + {cap}) * 2**20), resource.RLIM_INFINITY))
_t0 = time.process_time()
try:
{body}
finally:
    print(f"CAPPED {{time.process_time() - _t0:.3f}} {{_status('VmHWM') - _before:.1f}}", file=sys.stderr)
'''


class Capped(NamedTuple):
    """What a capped child did: its output (stdout + stderr), and the hostile step's CPU seconds (its own, so a loaded
    machine does not inflate them) and peak RSS growth."""

    out: str
    seconds: float
    growth_mib: float


def capped(setup: str, body: str, cap_mib: int, *args: str, cwd: Path | None = None) -> Capped:
    """Run ``setup`` (imports), then ``body`` with the child's address space capped at ``cap_mib`` MiB above what
    ``setup`` left, in a fresh Python; ``args`` are its ``sys.argv[1:]``."""
    code = CHILD.format(setup=textwrap.dedent(setup), body=textwrap.indent(textwrap.dedent(body), "    "), cap=cap_mib)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env,
                          cwd=cwd)
    found = re.search(r"^CAPPED (\S+) (\S+)$", proc.stderr, re.M)
    assert found, proc.stdout + proc.stderr[-3000:]
    return Capped(proc.stdout + proc.stderr, float(found.group(1)), float(found.group(2)))


def capped_dry_run(workdir: Path, config: Path, cap_mib: int = 256) -> Capped:
    """A real ``snakemake --dry-run`` of ``config``, in a capped child (snakemake's own ``main``)."""
    return capped("from snakemake.cli import main", """
        try:
            main(["-s", sys.argv[1], "-d", sys.argv[2], "--cores", "1", "--dry-run", "--configfile", sys.argv[3]])
        except SystemExit as exc:
            print("exit", exc.code)
        """, cap_mib, str(ROOT / "Snakefile"), str(workdir), str(config), cwd=workdir)


def ci_config(**sections: Any) -> dict:
    """config/ci.yaml with ``sections`` merged in (mappings key by key, at every level)."""
    def merged(base: Any, over: Any) -> Any:
        if not (isinstance(base, dict) and isinstance(over, dict)):
            return over
        return {**base, **{k: merged(base.get(k), v) for k, v in over.items()}}

    return merged(yaml.safe_load(CI_CONFIG.read_text()), sections)


def config_error(cfg: dict) -> str:
    """The one line the workflow prints for ``cfg`` (what common.smk runs), or "" when it is valid."""
    try:
        check_workflow_config(cfg, SCHEMA, check_device=False)
    except ConfigError as exc:
        return config_error_message(exc)
    return ""


# -- 1: atomic writes delete only their own temp files ------------------------------------------------------------


def test_atomic_writes_delete_only_their_own_temp_files(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    mine = tables / f".cost.csv{TEMP_MARK}a1b2c3d4.csv"  # what a writer killed by SIGKILL leaves
    others = [".cost.csv.notes", ".cost.csv.backup.csv", f".cost.csv{TEMP_MARK}abc.csv", ".cost.md.old"]
    for name in [mine.name, *others]:
        (tables / name).write_text("x\n")
    write_table(pd.DataFrame({"method": ["fds"], "seconds": [1.5]}), tables / "cost.csv", tables / "cost.md")
    assert sorted(p.name for p in tables.iterdir()) == sorted(["cost.csv", "cost.md", *others])
    # glob characters in the target are matched literally: '*.png' is not every .png's backup
    (tmp_path / ".holiday.png.backup").write_text("keep")
    (tmp_path / ".[a].csv.old").write_text("keep")
    for target in ("*.png", "[a].csv"):
        with atomic_path(tmp_path / target) as tmp:
            tmp.write_text("new")
    assert (tmp_path / ".holiday.png.backup").read_text() == (tmp_path / ".[a].csv.old").read_text() == "keep"
    assert (tmp_path / "*.png").read_text() == "new"


def test_cli_grid_named_by_a_glob_keeps_other_files(saved, capsys, tmp_path):
    (tmp_path / ".holiday.png.backup").write_text("keep")
    code, out, err = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                         "--grid", tmp_path / "*.png")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["*.png", ".holiday.png.backup"]


# -- 2: every budget and size key is bounded, with the key and the limit named ------------------------------------


@pytest.mark.parametrize("sections, message", [
    ({"coalitions": {"kernel": 10**12}}, "config key coalitions.kernel = 1000000000000 breaks the schema rule "
                                         "'maximum' (1000000000000 is greater than the maximum of 2097152)"),
    ({"coalitions": {"gfds_plus": 10**9}}, "config key coalitions.gfds_plus = 1000000000 breaks the schema rule "
                                           "'maximum'"),
    ({"coalitions": {"kernel": 2**21}}, "coalitions.kernel = 2097152 coalitions in shards of coalitions.shard_size "
                                        "= 64 make 32768 retraining jobs (limit 8192); raise coalitions.shard_size to "
                                        "at least 256"),
    ({"coalitions": {"exact": True}, "split": {"n_train": 100}},
     "coalitions.exact enumerates 2^n coalitions, but split.n_train = 100 (limit 20: 2^20 = 1048576 coalitions)"),
    ({"data": {"dataset": "fashion-mnist"}, "split": {"n_train": 10000}, "coalitions": {"shard_size": "auto",
                                                                                        "kernel": 2**21}},
     "coalitions.kernel = 2097152 coalitions of split.n_train = 10000 points are 2.1e+10 mask entries (limit 1.72e+10)"),
    ({"service": {"epochs": 10**9}}, "service.epochs = 1000000000 breaks the schema rule 'maximum'"),
    ({"approx": {"epochs": 10**9}}, "approx.epochs = 1000000000 breaks the schema rule 'maximum'"),
    ({"explainers": {"max_epochs": 10**9}}, "explainers.max_epochs = 1000000000 breaks the schema rule 'maximum'"),
    ({"baselines": {"tmc": {"n_permutations": 10**9}}}, "baselines.tmc.n_permutations = 1000000000 breaks the "
                                                        "schema rule 'maximum' (1000000000 is greater than the "
                                                        "maximum of 100000)"),
    ({"baselines": {"freeshap": {"n_permutations": 10**9}}}, "baselines.freeshap.n_permutations = 1000000000"),
    ({"baselines": {"cs_shapley": {"n_contexts": 10**9}}}, "baselines.cs_shapley.n_contexts = 1000000000"),
    ({"baselines": {"group_testing": {"n_samples": 10**9}}}, "baselines.group_testing.n_samples = 1000000000"),
    ({"evaluation": {"lds": {"subsets": 10**9}}}, "evaluation.lds.subsets = 1000000000 breaks the schema rule "
                                                  "'maximum' (1000000000 is greater than the maximum of 2097152)"),
    ({"budget_curve": {"budgets": [10**9]}}, "budget_curve.budgets.0 = 1000000000 breaks the schema rule 'maximum'"),
])
def test_budget_keys_are_bounded(sections, message):
    line = config_error(ci_config(**sections))
    assert message in line and "\n" not in line and len(line) < 400, line


def test_every_shipped_config_is_within_the_bounds():
    for path in sorted((ROOT / "config").glob("*.yaml")):
        assert config_error(yaml.safe_load(path.read_text())) == "", path


@pytest.mark.parametrize("shard_size", [64, "auto"])
def test_a_dry_run_of_a_huge_budget_fails_fast_and_small(tmp_path, shard_size):
    """The issue: kernel 1e12 made ``snakemake -n`` take 7.5 GB in 40 s (64), or the design job ask for 3.64 TiB."""
    config = write_config(tmp_path / "c.yaml", coalitions={"kernel": 10**12, "shard_size": shard_size})
    child = capped_dry_run(tmp_path, config)
    assert "config key coalitions.kernel = 1000000000000 breaks the schema rule 'maximum'" in child.out, child.out
    assert "exit 1" in child.out and child.seconds < 5 and child.growth_mib < 256, child
    assert not (tmp_path / "results").exists()


# -- 3: a small .npz cannot inflate to gigabytes before its checksum ---------------------------------------------


def deflated_zip(path: Path, name: str, header: bytes, zeros: int) -> None:
    """A zip with one deflated member ``name``: ``header`` then ``zeros`` zero bytes (a multiple of 16 MiB).

    Written by hand from one deflated 16 MiB block repeated (a full flush makes blocks independent), because
    compressing gigabytes takes seconds; the member is valid (its CRC-32 is computed over every byte)."""
    chunk = bytes(2**24)
    assert zeros % len(chunk) == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    data = head + block * (zeros // len(chunk)) + c.flush()
    crc = zlib.crc32(header)
    for _ in range(zeros // len(chunk)):
        crc = zlib.crc32(chunk, crc)
    size, raw = len(header) + zeros, name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0) + raw
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(raw), 0, 0,
                          0, 0, 0, 0) + raw
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)


def npy_header(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """The ``.npy`` header (format 1.0) of an array of ``shape``."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_a_small_npz_cannot_inflate_before_its_checksum(tmp_path):
    """The issue: a 2.1 MB table that unpacks to 2 GiB took 4.2 GB and 17-20 s before "failed its checksum"."""
    bomb, liar = tmp_path / "bomb.npz", tmp_path / "liar.npz"
    deflated_zip(bomb, "utilities.npy", npy_header((2**29,)), 2**31)  # 2 GiB of float32 zeros
    assert bomb.stat().st_size < 3_000_000
    with zipfile.ZipFile(liar, "w") as z:  # stored, as save_npz writes, but its header claims 2 GiB
        z.writestr("utilities.npy", npy_header((2**29,)) + bytes(8))
    child = capped("from fastdatashapley.engine.utility_table import UtilityTable", """
        for path in sys.argv[1:]:
            try:
                UtilityTable.load(path)
            except ValueError as exc:
                print(exc)
        """, 256, str(bomb), str(liar))
    assert f"array file {bomb} was not written by fastdatashapley: member utilities.npy is compressed" in child.out
    assert "that unpack to 2147483776); its arrays are stored uncompressed" in child.out, child.out
    assert (f"array file {liar} was not written by fastdatashapley: member utilities.npy declares an array "
            f"[536870912] of float32 (2147483648 bytes) but holds 8") in child.out, child.out
    assert child.seconds < 5 and child.growth_mib < 64, child


# -- 4: a YAML alias bomb ----------------------------------------------------------------------------------------


def alias_bomb(levels: int = 8) -> str:
    """``run:`` as a list whose items alias the item before, nine times each: 9^levels strings in a few hundred bytes."""
    lines = ["run:", "  - &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_in_one_short_line(tmp_path):
    """The issue: a 320-byte config with an 8-level alias list at run: took 1.84 GB, 25 s and a 351 MB error line."""
    config = tmp_path / "bomb.yaml"
    config.write_text(CI_CONFIG.read_text().replace("run: ci\n", "") + alias_bomb())
    assert config.stat().st_size < 2000
    child = capped_dry_run(tmp_path, config)
    message = ("config error: the config holds more than 100000 values (limit 100000, counting each use of a YAML "
               "alias); is it an alias bomb?")
    assert message in child.out and len(child.out) < 3000, child.out[:3000]
    assert child.seconds < 5 and child.growth_mib < 256, child


def test_schema_errors_show_a_short_value():
    line = config_error(ci_config(run=["x"] * 50_000))  # within the size bound, but not a name
    assert line.startswith("config error: config key run = ['x', 'x', ") and len(line) < 400, line[:1000]
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    assert config_error(ci_config(run=deep)) == (f"config error: config key run{'.0' * 32} nests deeper than 32 "
                                                 "levels (limit 32)")


# -- 5: an image's size is checked from its header --------------------------------------------------------------


def zero_png(path: Path, width: int, height: int) -> None:
    """A black RGB PNG of ``width`` x ``height``, written by hand from one deflated block of rows repeated (a full
    flush makes blocks independent): PIL would take seconds and gigabytes to encode one this large."""
    row = 1 + 3 * width  # filter byte + RGB
    rows = 1000
    assert height % rows == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(row * rows)) + c.flush(zlib.Z_FULL_FLUSH)
    total = row * height
    adler = ((total % 65521) << 16) | 1  # Adler-32 of zeros: a = 1, b = count mod 65521
    idat = b"\x78\xda" + block * (height // rows) + c.flush() + struct.pack(">I", adler)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">2I5B", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_a_huge_image_is_refused_from_its_header(tmp_path):
    """The issue: a 12000x12000 RGB PNG of 419 KB took 4.9 GB and 17 s before "is 12000x12000 pixels"."""
    png, npy = tmp_path / "huge.png", tmp_path / "huge.npy"
    zero_png(png, 12000, 12000)
    assert png.stat().st_size < 1_000_000
    with open(npy, "wb") as f:  # a 1 GiB image, sparse on disk: only its header is written
        f.write(npy_header((1, 16384, 16384)))
        f.truncate(f.tell() + 2**30)
    child = capped("from fastdatashapley.cli import read_image", """
        for path in sys.argv[1:]:
            try:
                read_image(path, (1, 8, 8))
            except ValueError as exc:
                print(exc)
        """, 256, str(png), str(npy))
    assert (f"image file {png} is 12000x12000 pixels (width x height); this explainer takes 8x8; resize it first"
            in child.out), child.out
    assert f"image file {npy} has shape [1, 16384, 16384]; this explainer takes [1, 8, 8]" in child.out, child.out
    assert child.seconds < 5 and child.growth_mib < 64, child


def test_the_hand_written_png_is_valid(tmp_path):
    from PIL import Image

    zero_png(tmp_path / "small.png", 300, 2000)
    with Image.open(tmp_path / "small.png") as img:
        assert img.size == (300, 2000) and img.mode == "RGB" and not np.asarray(img).any()


# -- 6: explainer files with weights that are not finite, or too large ------------------------------------------


def edited_explainer(saved: dict, path: Path, value: float, entry: str = "net_state") -> tuple[Path, str]:
    """The saved explainer file with the last bias of ``entry`` (``net_state`` or ``service``'s ``state``) set to
    ``value``, and that bias's key."""
    blob = torch.load(saved["path"], weights_only=True)
    state = blob["net_state"] if entry == "net_state" else blob["service"]["state"]
    last = [k for k in state if k.endswith("bias")][-1]
    state[last] = torch.full_like(state[last], value)
    torch.save(blob, path)
    return path, last


def test_explainer_files_with_nan_weights_are_refused(saved, capsys, tmp_path):
    for entry, what in (("net_state", "net_state"), ("service", "service state")):
        for value in (float("nan"), float("inf")):
            path, key = edited_explainer(saved, tmp_path / "bad.pt", value, entry)
            with pytest.raises(ValueError, match=re.escape(f"explainer file {path} is invalid: {what} entry {key!r} "
                                                           "holds NaN or infinite weights")):
                Explainer.load(path)
            code, out, err = run(capsys, "explain", "--explainer", path, "--image", saved["folder"] / "x.npy",
                                 "--json")
            assert code == 2 and out == "" and "holds NaN or infinite weights" in err, err
            assert err.count("\n") == 1


def test_values_that_break_efficiency_are_an_error(saved, capsys, tmp_path):
    """A last bias of 1e38 is finite, but float64 loses the values' sum: they summed to 0.0, not 0.835."""
    path, _ = edited_explainer(saved, tmp_path / "huge.pt", 1e38)
    explainer = Explainer.load(path)
    with pytest.raises(ValueError, match=re.escape(f"explainer file {path}: the values of image 0 for label ")):
        explainer.values(saved["image"][None])
    code, out, err = run(capsys, "explain", "--explainer", path, "--image", saved["folder"] / "x.npy", "--json")
    assert code == 2 and out == "" and "not f_D(x) - f_0(x) = " in err and "(efficiency, tolerance 1e-06)" in err
    # a sound file: values sum to f_D(x) - f_0(x), and --json is strict JSON
    code, out, _ = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                       "--json")
    assert code == 0 and json.loads(out, parse_constant=lambda c: pytest.fail(f"--json printed {c}"))


# -- 7 and 8: integers are integers and every number is finite ---------------------------------------------------


@pytest.mark.parametrize("text, key", [
    ("split: {n_train: 20.0}", "split.n_train = 20.0"),
    ("split: {n_test: 10.0}", "split.n_test = 10.0"),
    ("seeds: [0.0]", "seeds.0 = 0.0"),
    ("explainers: {max_epochs: 15.0}", "explainers.max_epochs = 15.0"),
    ("baselines: {tmc: {n_permutations: 10.0}}", "baselines.tmc.n_permutations = 10.0"),
    ("coalitions: {kernel: 128.0}", "coalitions.kernel = 128.0"),
])
def test_integer_keys_refuse_floats(text, key):
    line = config_error(ci_config(**yaml.safe_load(text)))
    assert line.startswith(f"config error: config key {key} breaks the schema rule 'type' (") and \
        "is not of type 'integer')" in line, line


def test_nested_command_line_numbers_are_named_as_strings():
    line = config_error(ci_config(split={"n_train": "20"}))  # what snakemake --config 'split={n_train: 20}' gives
    assert line.endswith("split.n_train: snakemake --config gives nested values as strings; set them in a config "
                         "file"), line


@pytest.mark.parametrize("text, key", [
    ("service: {lr: .nan}", "service.lr = nan"),
    ("explainers: {lr: .nan}", "explainers.lr = nan"),
    ("explainers: {lr_by_method: {fds: .inf}}", "explainers.lr_by_method.fds = inf"),
    ("evaluation: {etas: [0.1, .nan]}", "evaluation.etas.1 = nan"),
    ("evaluation: {curve_step: .nan}", "evaluation.curve_step = nan"),
    ("evaluation: {lds: {alpha: .nan}}", "evaluation.lds.alpha = nan"),
    ("noise: {fraction: .nan}", "noise.fraction = nan"),
    ("service: {weight_decay: .inf}", "service.weight_decay = inf"),
    ("explainers: {gamma: -.inf}", "explainers.gamma = -inf"),
])
def test_every_number_must_be_finite(text, key):
    assert config_error(ci_config(**yaml.safe_load(text))) == (f"config error: config key {key}: every number in "
                                                               "the config must be finite")


# -- 9: plugins are checked before they are imported -------------------------------------------------------------


def test_plugins_are_checked_before_they_are_imported(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('half-written plugin')\n")
    cases = [
        ("nope.py", "config error: config key plugins = 'nope.py' breaks the schema rule 'type' ('nope.py' is not "
                    "of type 'array')"),
        ([["a"]], "config error: config key plugins.0 = ['a'] breaks the schema rule 'type' (['a'] is not of type "
                  "'string')"),
        (["no_such_module"], "config error: config key plugins: cannot import plugin 'no_such_module' "
                             "(ModuleNotFoundError: No module named 'no_such_module')"),
        ([str(broken)], f"config error: config key plugins: cannot import plugin '{broken}' (RuntimeError: "
                        "half-written plugin)"),
        ([str(tmp_path / "gone.py")], f"config error: plugin file {tmp_path / 'gone.py'} (config key plugins) does "
                                      "not exist"),
    ]
    for plugins, message in cases:
        line = config_error(ci_config(plugins=plugins))
        assert line.startswith(message) and "\n" not in line, line


# -- 10: payments are bounded and --json stays JSON ---------------------------------------------------------------


def test_a_huge_payment_is_refused_and_json_stays_valid(saved, capsys):
    for amount in ("1e308", "1e16"):
        code, out, err = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                             "--pay", amount, "--negative", "clip", "--json")
        assert code == 2 and out == "" and "--pay must be a finite amount >= 0 and at most 1e+15" in err, err
    code, out, _ = run(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                       "--pay", "1e15", "--negative", "clip", "--json")
    shares = json.loads(out, parse_constant=lambda c: pytest.fail(f"--json printed {c}"))["payments"]["shares"]
    assert code == 0 and sum(shares) == pytest.approx(1e15)
    with pytest.raises(ValueError, match=r"cannot split a payment of 1e\+15: the values sum to 1e-300 under policy "
                                         r"'keep', and the shares overflow"):
        split_payment(np.array([1.0, -1.0, 1e-300]), 1e15)


# -- 11: utilities outside [0, 1] are refused on load -------------------------------------------------------------


@pytest.mark.parametrize("field, value, message", [
    ("utilities", 1e30, r"utilities lie in \[0, 1e\+30\] in rows \[1\]; softmax utilities lie in \[0, 1\]"),
    ("utilities", -5.0, r"utilities lie in \[-5, 1\] in rows \[1\]; softmax utilities lie in \[0, 1\]"),
    ("grand", 1.5, r"grand lie in \[1, 1.5\]; softmax utilities lie in \[0, 1\]"),
])
def test_utilities_outside_zero_one_are_refused_on_load(tmp_path, field, value, message):
    masks = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]], bool)
    util, null, grand = np.zeros((3, 2, 2)), np.zeros((2, 2)), np.ones((2, 2))
    util[:, :, 0] = 1
    table = UtilityTable(masks, util, null, grand, np.arange(2))
    table.save(tmp_path / "good.npz")
    assert UtilityTable.load(tmp_path / "good.npz") == table  # 0 and 1 are in range
    bad = {"utilities": util.copy(), "grand": grand.copy()}
    bad[field][(1, 0, 0) if field == "utilities" else (0, 0)] = value
    UtilityTable(masks, bad["utilities"], null, bad["grand"], np.arange(2)).save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=re.escape(f"utility table {tmp_path / 'bad.npz'}: ") + message):
        UtilityTable.load(tmp_path / "bad.npz")


# -- 12: the report holds every table -----------------------------------------------------------------------------


def test_every_table_output_is_in_the_report():
    """Each rule output under tables/ (not its Markdown copy) is wrapped in report(...) with a caption that exists;
    the slow test_report_is_one_self_contained_html checks the real report."""
    outputs = []
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for flagged, name in re.findall(r"\w+=(report\(\s*)?(?:MAIN|SHARED)\.table\(\s*\"([^\"]+)\"", path.read_text()):
            outputs.append(name)
            assert flagged or name.endswith(".md"), f"{path.name}: {name} is not in the report"
    assert {"value_loss_curve.csv", "lds_samples.csv", "value_loss.provenance.json"} <= set(outputs)
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        for caption in re.findall(r'caption="\.\./report/([^"]+)"', path.read_text()):
            assert (ROOT / "workflow" / "report" / caption).is_file(), caption


# -- 13: jobs import this checkout's package ----------------------------------------------------------------------


@pytest.fixture
def impostor(tmp_path) -> tuple[Path, dict]:
    """Another copy of the package in ``<tmp>/impostor``, whose import writes the file ``$IMPOSTOR_MARK``; and an
    environment that puts it on the path before this checkout's src (where an installed copy would be)."""
    folder = tmp_path / "impostor"
    shutil.copytree(SRC / "fastdatashapley", folder / "fastdatashapley", ignore=shutil.ignore_patterns("__pycache__"))
    init = folder / "fastdatashapley" / "__init__.py"
    init.write_text(init.read_text() + "\nimport os\nopen(os.environ['IMPOSTOR_MARK'], 'a').write('imported')\n")
    env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{SRC}", "IMPOSTOR_MARK": str(tmp_path / "mark")}
    return folder, env


@pytest.mark.parametrize("preimport", [False, True])
def test_job_start_up_imports_this_checkout(impostor, tmp_path, preimport):
    """A rule script's start-up (workflow/scripts/common.py) with another copy first on the path, and with that copy
    imported already (as Snakemake's preamble can, unpickling the job)."""
    code = textwrap.dedent(f"""
        import sys
        {"import fastdatashapley" if preimport else ""}
        sys.path.insert(0, {str(ROOT / "workflow" / "scripts")!r})
        import common
        import fastdatashapley.workflow.logs
        print(fastdatashapley.__file__, fastdatashapley.workflow.logs.__file__)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=impostor[1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    package, logs = proc.stdout.split()
    assert package == str(SRC / "fastdatashapley" / "__init__.py") and logs.startswith(str(SRC)), proc.stdout
    assert (tmp_path / "mark").exists() == preimport  # the impostor ran only where it was imported first


def test_a_real_job_imports_this_checkout(impostor, tmp_path):
    """The issue: with a venv whose editable install pointed to another checkout, jobs ran that checkout's code."""
    proc = snakemake(tmp_path, "results/ci/split.npz", env=impostor[1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "results/ci/logs/split.log").read_text()
    assert f"split INFO fastdatashapley from {SRC / 'fastdatashapley'}" in log, log
    assert not (tmp_path / "mark").exists(), "a job imported the other copy"


# -- 14: weak messages --------------------------------------------------------------------------------------------


def test_a_directory_or_fifo_is_not_an_image_or_explainer(saved, capsys, tmp_path):
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)  # reading it would block
    (tmp_path / "folder.npy").mkdir()
    for path, message in ((fifo, "is not a regular file (a FIFO, socket or device)"),
                          (tmp_path / "folder.npy", "is a directory, not a file")):
        code, out, err = run(capsys, "explain", "--explainer", saved["path"], "--image", path)
        assert code == 2 and err == f"fastdatashapley: error: image file {path} {message}\n", err
    code, out, err = run(capsys, "info", "--explainer", fifo)
    assert code == 2 and err == f"fastdatashapley: error: explainer file {fifo} is not a regular file (a FIFO, " \
                                "socket or device)\n", err


@pytest.mark.parametrize("edit, message", [
    (lambda b: b["net_config"].pop("options"), "entry net_config.options is missing"),
    (lambda b: b.update(format=torch.tensor([2, 2])), "its format is a Tensor, not an int"),
    (lambda b: b.update(method=torch.tensor(1)), "entry method is a Tensor, not str"),
    (lambda b: b["service"].update(seed="zero"), "entry service.seed is a str, not int"),
    (lambda b: b["net_config"].update(m=True), "entry net_config.m is a bool, not int"),
    (lambda b: b.update(groups={"a": 1}), "entry groups is a dict, not list or None"),
])
def test_malformed_explainer_entries_are_named(saved, tmp_path, edit, message):
    blob = torch.load(saved["path"], weights_only=True)
    edit(blob)
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ValueError) as info:
        Explainer.load(tmp_path / "bad.pt")
    assert str(info.value) == f"explainer file {tmp_path / 'bad.pt'} is invalid: {message}"


# Runs on a 64 KiB tmpfs: the model and the array below are larger.
FULL_DISK = r"""
import os, sys
import numpy as np
import torch
from fastdatashapley.base.io import save_npz
from fastdatashapley.engine.states import save_torch
from fastdatashapley.workflow.logs import setup_logging
full, log = sys.argv[1], sys.argv[2]
try:
    save_torch(f"{full}/model.pt", {"x": torch.zeros(100_000)})
except OSError as exc:
    print(exc)
print(os.listdir(full))
setup_logging(log, name="shard")
save_npz(f"{full}/0.npz", utilities=np.zeros(100_000))  # uncaught, as in a rule script
"""


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    """ENOSPC on a real (tiny tmpfs) file system, mounted in a private mount namespace: no root needed."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
        pytest.skip("unshare -rm (user and mount namespaces) is not available here")
    full, log = tmp_path / "full", tmp_path / "shard.log"
    full.mkdir()
    script = f"mount -t tmpfs -o size=64k tmpfs {full} && exec {sys.executable} -c \"$0\" {full} {log}"
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script, FULL_DISK], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == f"[Errno 28] cannot write {full}/model.pt: No space left on device\n[]\n", proc.stdout
    lines = log.read_text().splitlines()
    assert lines[-1].endswith(f"shard ERROR OSError: [Errno 28] cannot write {full}/0.npz: No space left on "
                              "device"), lines
    assert "Traceback" not in log.read_text()
