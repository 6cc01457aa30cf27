"""Issue 14: what a new user and a hostile file found. One test (or more) per defect, on real files and real torch.

1 hostile explainer files; 2 batch_size; 3 pixels and paths given to the API; 4 values files of the wrong shape;
5 and 6 config checks and short schema errors; 7 file modes; 8 thread counts in the provenance; 9 the CLI.
The workflow-level tests (real snakemake, marked slow) come last: 10 resume after a kill, 4 through the rule
scripts, 5 and 6 on dry runs.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import torch
import yaml
from small_service import one_torch_thread, small_digits_service
from workflow_helpers import (GROUP, ROOT, HeldRun, copy_run, hold_config, results_digest, snakemake, undo,
                              write_config)

from fastdatashapley.engine.states import expected_shapes
from fastdatashapley.cli import main
from fastdatashapley.games.coalitions import kernel_masks
from fastdatashapley.workflow.config_checks import ConfigError, check_config, config_error_message, schema_error_message
from fastdatashapley.data import load_dataset, make_split
from fastdatashapley.data import POOL, VALIDATION
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer
from fastdatashapley.explainers.nets import build_net, net_config
from fastdatashapley.base.io import atomic_path, load_npz, load_values, save_npz, save_values, split_sizes, write_json
from fastdatashapley.explainers.payout import split_payment
from fastdatashapley.workflow.provenance import table_provenance
from fastdatashapley.engine.utility_table import UtilityTable

N = 12
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict:
    """A briefly trained FDS explainer on 12 digits of classes 0-2 (small net), saved to a file, and a test image."""
    with one_torch_thread():
        ds, idx, service = small_digits_service(per_class=4)
        probes = ds.x[200:260]
        null, grand = service.null_proba(probes), service.proba(probes)
        phi = np.full(N, 1 / N)[None, :, None] * (grand - null)[:, None, :]
        masks = kernel_masks(N, 32, seed=1)
        table = UtilityTable(masks, null[None] + np.einsum("sn,pnm->spm", masks.astype(float), phi), null, grand,
                             np.arange(60))
        settings = ExplainerSettings(net_options={"width": 4, "hidden": 16}, max_epochs=1, device="cpu",
                                     dataset="digits")
        # the game is the uniform split, which the untrained net already gives: it is told so
        with pytest.warns(RuntimeWarning, match="untrained net's"):
            explainer = fit_explainer(table, probes, np.repeat([POOL, VALIDATION], [48, 12]), service, ds.x[idx],
                                      ds.y[idx], method="fds", settings=settings)
    folder = tmp_path_factory.mktemp("reliability")
    explainer.save(folder / "fds.pt")
    np.save(folder / "x.npy", ds.x[400])
    return {"path": folder / "fds.pt", "folder": folder, "explainer": explainer, "image": ds.x[400]}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- 1: a hostile explainer file cannot make the loader allocate more than the file holds ----------------------

# Runs in a child whose address space is capped at 512 MiB above what torch needs after import, so a loader that
# builds the net at a file's stated size fails at once (instead of taking 16 GB), and the test still fails. It
# times each load in CPU seconds, which a loader that builds a net spends and a loaded machine does not add to.
CAPPED_INFO = r"""
import contextlib, io, resource, sys, time
from fastdatashapley.cli import main
size = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (size + 512 * 2**20, resource.RLIM_INFINITY))
for path in sys.argv[1:]:
    err, t0 = io.StringIO(), time.process_time()
    with contextlib.redirect_stderr(err):
        code = main(["info", "--explainer", path])
    print(f"{code}\t{time.process_time() - t0:.3f}\t{err.getvalue().strip()}", flush=True)
"""


def hostile_files(saved: dict, folder: Path) -> dict[str, tuple[Path, str]]:
    """Explainer files that state nets far larger than the tensors they hold: name -> (file, expected message)."""
    blob = torch.load(saved["path"], weights_only=True)
    cfg = blob["net_config"]

    def write(name: str, **changes) -> Path:
        edited = copy.deepcopy(blob)
        for key, value in changes.items():
            edited[key] = value
        torch.save(edited, folder / name)
        return folder / name

    files = {}
    huge = {**cfg, "options": {**cfg["options"], "hidden": 2_000_000}}  # the issue: a 2,000,000-unit hidden layer
    files["hidden"] = (write("hidden.pt", net_config=huge), "hidden = 2000000 exceeds its limit 65536")
    wide = {**cfg, "options": {**cfg["options"], "hidden": 60_000}}  # within the limits, but not what is stored
    files["mismatch"] = (write("mismatch.pt", net_config=wide),
                         r"net_state entry 'head.fc1.weight' has shape [16, 128], but its config gives [60000, 128]")
    service = copy.deepcopy(blob["service"])
    service["spec"]["n_classes"] = 100_000_000  # a 14 GB service model
    files["service"] = (write("service.pt", service=service), "service state entry '3.weight' has shape [3, 144]")
    # Tensors of the stated shape backed by one stored number (stride 0): the file stays tiny.
    shapes = expected_shapes(lambda: build_net(net_config(cfg["name"], cfg["in_shape"], cfg["n_out"], cfg["m"],
                                                          **wide["options"])))
    hollow = {k: torch.zeros(1).expand(shape) for k, shape in shapes.items()}
    files["hollow"] = (write("hollow.pt", net_config=wide, net_state=hollow), "stored in fewer bytes than it holds")
    return files


def test_hostile_explainer_files_fail_fast_without_allocating(saved, tmp_path):
    files = hostile_files(saved, tmp_path)
    assert max(path.stat().st_size for path, _ in files.values()) < 1_000_000
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-c", CAPPED_INFO, *[str(p) for p, _ in files.values()]],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(files), proc.stdout + proc.stderr[-3000:]
    for (name, (path, message)), line in zip(files.items(), lines):
        code, seconds, err = line.split("\t")
        assert code == "2" and str(path) in err and message in err, (name, err)
        assert float(seconds) < 5, (name, seconds)


def test_net_sizes_are_bounded_when_fitting_too():
    with pytest.raises(ValueError, match="width = 5000 exceeds its limit 1024"):
        net_config("small_cnn", (1, 8, 8), 10, 10, width=5000)
    with pytest.raises(ValueError, match="in_shape .* exceeds the limits"):
        net_config("small_cnn", (1, 100_000, 8), 10, 10)
    with pytest.raises(ValueError, match="parameters, more than the limit"):
        net_config("small_cnn", (1, 8, 8), 10_000_000, 10)  # a 2.5e10-weight head, counted on the meta device
    assert net_config("small_cnn", (1, 8, 8), 100, 10)["options"] == {"width": 32, "hidden": 256, "per_point": 0,
                                                                   "rank": 0, "features": 0}


# -- 2: batch_size ------------------------------------------------------------------------------------------


def test_batch_size_must_be_a_positive_integer(saved):
    e, x = saved["explainer"], np.stack([saved["image"]] * 3)
    for bad in (-1, 0, 2.5, True, None):
        with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1, got"):
            e.values(x, batch_size=bad)
        with pytest.raises(ValueError, match=r"batch_size must be an integer >= 1"):
            e.raw(x, batch_size=bad)
    assert np.array_equal(e.values(x, batch_size=1), e.values(x))


# -- 3: the API checks pixels as the CLI does, and the path -----------------------------------------------


def test_api_rejects_pixels_the_cli_rejects(saved, capsys):
    e, x = saved["explainer"], saved["image"][None]
    with pytest.raises(ValueError, match=r"image has values in \[0, 255\]; they must lie in \[0, 1\]"):
        e.values((x * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"values in \[-0.5, "):
        e.values(x - 0.5 * (x == 0))
    with pytest.raises(ValueError, match="holds <U1 values, not numbers"):
        e.values(np.full(x.shape, "a"))
    with pytest.raises(ValueError, match="NaN or Inf"):
        e.values(np.where(x > 0.5, np.inf, x))
    with pytest.raises(ValueError, match="NaN or Inf"):
        e.predict(np.full(x.shape, np.nan))
    assert np.array_equal(e.values(x.astype(np.float64)), e.values(x))
    nearly, one = x.copy(), x.copy()
    nearly[..., 0, 0], one[..., 0, 0] = 1 + 5e-7, 1  # float rounding above 1 is clipped, as in the CLI
    assert np.array_equal(e.values(nearly), e.values(one))
    np.save(saved["folder"] / "bright.npy", (x[0] * 255).astype(np.uint8))
    code, _, err = run_cli(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "bright.npy")
    assert code == 2 and "they must lie in [0, 1]" in err


def test_load_of_no_path_is_a_clear_error():
    with pytest.raises(ValueError, match="explainer path must be a file path .*got None"):
        Explainer.load(None)
    with pytest.raises(ValueError, match="got 3"):
        Explainer.load(3)


# -- 4: values files are checked against the split's n, T and m, and named -----------------------------------


def test_load_values_checks_n_t_m_and_names_the_file(tmp_path):
    good, wrong_n, flat = tmp_path / "good.npz", tmp_path / "wrong_n.npz", tmp_path / "flat.npz"
    save_values(good, np.zeros((20, 10, 3)), {"scope": "per_sample"})
    save_values(wrong_n, np.zeros((21, 10, 3)), {"scope": "per_sample"})
    save_values(flat, np.zeros(20), {"scope": "per_sample"})
    sizes = {"n": 20, "n_test": 10, "n_classes": 3}
    assert load_values(good, **sizes)[0].shape == (20, 10, 3)
    with pytest.raises(ValueError, match=rf"values file {wrong_n} holds values of shape \[21, 10, 3\] with n = 21; "
                                         r"expected n = 20, T = 10, m = 3"):
        load_values(wrong_n, **sizes)
    with pytest.raises(ValueError, match=r"T = 9"):
        load_values(good, n=20, n_test=9, n_classes=3)
    with pytest.raises(ValueError, match=r"m = 3; expected n = 20, T = 10, m = 10"):
        load_values(good, n=20, n_test=10, n_classes=10)
    with pytest.raises(ValueError, match=rf"{flat} holds values of shape \[20\]; expected \[n, T, m\] per sample"):
        load_values(flat, **sizes)
    save_values(flat, np.zeros(20), {"scope": "global"})
    assert load_values(flat, **sizes)[0].shape == (20,)  # global values are [n]
    split = tmp_path / "split.npz"
    save_npz(split, y_train=np.zeros(20, int), y_test=np.zeros(10, int), n_classes=3)
    assert split_sizes(load_npz(split)) == sizes


@pytest.mark.parametrize("script", ["removal.py", "top10_grid.py", "report_tables.py", "accuracy_vs_exact.py",
                                    "mislabel_table.py"])
def test_every_values_reader_passes_the_expected_sizes(script):
    calls = [node for node in ast.walk(ast.parse((ROOT / "workflow" / "scripts" / script).read_text()))
             if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_values"]
    assert calls and all(node.keywords for node in calls), f"{script} reads a values file without its expected shape"


# -- 5: config checks beyond the schema -------------------------------------------------------------------------


def config(**sections) -> dict:
    """The default config (as the schema fills it in) with ``sections`` merged in."""
    cfg = {"run": "digits", "device": "cpu", "data": {"dataset": "digits", "classes": None},
           "split": {"n_train": 100, "n_pool": 1000, "n_val": 100, "n_test": 10}, "noise": {"fraction": 0.0, "seed": 0}}
    for key, value in sections.items():
        cfg[key] = {**cfg[key], **value} if isinstance(value, dict) else value
    return cfg


@pytest.mark.parametrize("sections, message", [
    ({"split": {"n_train": 25}}, "split.n_train = 25 is not divisible by the 10 classes of digits"),
    ({"data": {"classes": [0, 1, 2]}, "split": {"n_train": 16, "n_pool": 10}},
     "split.n_train = 16 is not divisible by the 3 classes of digits"),
    ({"split": {"n_train": 1800}}, "split.n_train = 1800 asks for 180 images per class, but digits has 174 in its "
                                   "smallest class (limit 1740)"),
    ({"split": {"n_test": 1650}}, "split.n_test = 1650 asks for 165 test images per class, but digits after "
                                  "split.n_train has 164 in its smallest class (limit 1640"),
    ({"split": {"n_test": 1698}}, "split.n_test = 1698 exceeds the 1697 images of digits after split.n_train "
                                  "(limit 1697)"),
    ({"split": {"n_pool": 1600}}, "split.n_pool + split.n_val = 1700 exceeds the 1687 images of digits left after "
                                  "split.n_train and split.n_test (limit 1687)"),
    ({"data": {"dataset": "mnist"}, "split": {"n_test": 9000}},
     "split.n_test = 9000 asks for 900 test images per class, but the eval part of mnist has 892"),
    ({"data": {"classes": [0, 10]}}, "data.classes = [0, 10] must list at least 2 distinct labels of digits"),
    ({"data": {"downsample": 3}}, "data.downsample = 3 must be an integer >= 1 that divides the image height and "
                                  "width (8 x 8)"),
    ({"noise": {"fraction": 0.004}}, "noise.fraction = 0.004 flips no label of the split.n_train = 100 points "
                                     "(round(fraction * n_train) = 0); use more than 0.005, or 0 to turn noise off"),
])
def test_config_checks_name_the_key_and_the_limit(sections, message):
    with pytest.raises(ConfigError) as info:
        check_config(config(**sections))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_the_smallest_noise_fraction_flips_one_label():
    check_config(config(noise={"fraction": 0.0}))
    check_config(config(noise={"fraction": 0.006}))  # round(0.6) = 1 label of 100
    with pytest.raises(ConfigError, match="noise.fraction = 0.005 flips no label"):  # round(0.5) = 0, half to even
        check_config(config(noise={"fraction": 0.005}))


def test_config_limits_are_the_splits_limits():
    """At each limit :func:`make_split` succeeds and one more fails, on the real digits data."""
    ds = load_dataset("digits")
    for n_test, n_pool, n_val in ((1640, 1, 1), (1695, 1, 1), (10, 1587, 100)):
        check_config(config(split={"n_test": n_test, "n_pool": n_pool, "n_val": n_val}))
        make_split(ds, 100, n_test, n_pool + n_val, seed=0)
    for n_test, n_pool, n_val in ((1650, 1, 1), (1696, 1, 1), (10, 1588, 100)):
        with pytest.raises(ConfigError):
            check_config(config(split={"n_test": n_test, "n_pool": n_pool, "n_val": n_val}))
        with pytest.raises(ValueError):
            make_split(ds, 100, n_test, n_pool + n_val, seed=0)
    sub = load_dataset("digits", classes=[0, 1, 2, 3])
    check_config(config(data={"classes": [0, 1, 2, 3]}, split={"n_train": 16, "n_pool": 600, "n_val": 94}))
    make_split(sub, 16, 10, 694, seed=0)
    with pytest.raises(ValueError):
        make_split(sub, 16, 10, 695, seed=0)


def test_cuda_without_cuda_is_a_config_error():
    if torch.cuda.is_available():
        check_config(config(device="cuda"))
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"device: cuda, but torch finds no CUDA device"):
        check_config(config(device="cuda"))
    check_config(config(device="cuda"), check_device=False)  # jobs on other machines (a cluster's GPU nodes)


@pytest.mark.parametrize("run, ok", [("digits", True), ("ci-seed1", True), ("a.b", True), ("..", False),
                                     (".", False), (".hidden", False), ("a/b", False), ("", False)])
def test_run_names_are_safe_folder_names(run, ok):
    schema = yaml.safe_load(SCHEMA.read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors({"run": run}))
    assert (not errors) == ok, errors


# -- 6: schema errors in a few lines ------------------------------------------------------------------------------


@pytest.mark.parametrize("sections, message", [
    ({"split": {"n_trian": 20}}, "config error: unknown key split.n_trian; config key split takes n_pool, n_test, "
                                 "n_train, n_val, pool_correct_only"),
    ({"data": {"dataset": "imagenet"}}, "config error: config key data.dataset = 'imagenet' breaks the schema rule "
                                        "'enum' ('imagenet' is not one of ['digits', 'mnist', 'fashion-mnist'"),
    ({"baselines": {"tmc": {"n_permutations": 0}}}, "config key baselines.tmc.n_permutations = 0 breaks the schema "
                                                    "rule 'minimum'"),
    ({"service": {"lr": -1}}, "config key service.lr = -1 breaks the schema rule 'exclusiveMinimum'"),
    ({"run": ".."}, "config key run = '..' breaks the schema rule 'pattern'"),
    ({"coalitions": {"shard_size": "big"}}, "config key coalitions.shard_size = 'big' breaks the schema rule 'oneOf'"),
    ({"colour": "red"}, "config error: unknown key colour; the config takes approx, baselines"),
    ({"noise": {"fraction": 0.6}}, "config key noise.fraction = 0.6 breaks the schema rule 'maximum'"),
    ({"noise": {"fraction": -0.1}}, "config key noise.fraction = -0.1 breaks the schema rule 'minimum'"),
    ({"noise": {"frac": 0.1}}, "config error: unknown key noise.frac; config key noise takes fraction, seed"),
    ({"evaluation": {"lds": {"alpha": 1.0}}}, "config key evaluation.lds.alpha = 1.0 breaks the schema rule "
                                              "'exclusiveMaximum'"),
    ({"evaluation": {"lds": {"alpha": 0}}}, "config key evaluation.lds.alpha = 0 breaks the schema rule "
                                            "'exclusiveMinimum'"),
    ({"evaluation": {"lds": {"subsets": 9}}}, "config key evaluation.lds.subsets = 9 breaks the schema rule 'minimum'"),
    ({"data": {"downsample": 0}}, "config key data.downsample = 0 breaks the schema rule 'minimum'"),
    ({"explainers": {"lr_by_method": {"tmc": 0.1}}}, "config error: unknown key explainers.lr_by_method.tmc"),
    ({"explainers": {"lr_by_method": {"fds": 0}}}, "config key explainers.lr_by_method.fds = 0 breaks the schema "
                                                   "rule 'exclusiveMinimum'"),
    ({"seeds": []}, "config key seeds = [] breaks the schema rule 'minItems'"),
    ({"seeds": [1, 1]}, "config key seeds = [1, 1] breaks the schema rule 'uniqueItems'"),
    ({"seed": 3}, "config error: config key seed is now seeds, a list (one run per seed): write seeds: [3]"),
])
def test_schema_errors_are_one_line(sections, message):
    from fastdatashapley.workflow.config_schema import complete_schema, validate_config# what the workflow runs

    with pytest.raises(ConfigError) as info:
        validate_config(sections, complete_schema(yaml.safe_load(SCHEMA.read_text())))
    line = config_error_message(info.value)
    assert message in line and "\n" not in line and len(line) < 400, line
    assert schema_error_message(RuntimeError("no schema here")) is None


# -- 7: file modes follow the umask ---------------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_outputs_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        save_npz(tmp_path / "a.npz", x=np.zeros(2))
        write_json(tmp_path / "a.json", {"a": 1})
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("b")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("p")
    finally:
        os.umask(old)
    for name in ("a.npz", "a.json", "b.txt", "plain.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


# -- 8: the thread count and seed behind every result ----------------------------------------------------------------


def test_values_files_record_the_torch_thread_count(tmp_path):
    with one_torch_thread():
        save_values(tmp_path / "v.npz", np.zeros(3), {"seed": 4})
    meta = load_values(tmp_path / "v.npz")[1]
    assert meta["torch_threads"] == 1 and meta["seed"] == 4
    prov = table_provenance({"fds": meta, "tmc/global": {"seed": 4, "torch_threads": 2}}, {"fds": 1, "tmc/global": 2})
    assert prov["seed"] == 4 and prov["torch_threads"] == [1, 2]
    assert prov["methods"]["tmc/global"] == {"seed": 4, "values_torch_threads": 2, "removal_torch_threads": 2}
    assert prov["runtime"]["torch"] == torch.__version__.split("+")[0] and prov["runtime"]["cpu"]
    assert "same config, seed" in prov["reproducibility"]
    json.dumps(prov)


def test_readme_says_what_reproduces_bit_for_bit():
    readme = (ROOT / "README.md").read_text()
    assert "same machine" in readme and "--cores" in readme and "7.5e-3" in readme and "0.46" in readme
    assert "## Bad input" in readme


# -- 9: the CLI ------------------------------------------------------------------------------------------------------


def test_cli_explainer_paths_and_files(saved, capsys, tmp_path):
    image = saved["folder"] / "x.npy"
    code, _, err = run_cli(capsys, "info", "--explainer", tmp_path)
    assert code == 2 and err.strip() == f"fastdatashapley: error: explainer path {tmp_path} is a directory, not an " \
                                        "explainer file"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": 2, "callable": Path("x")}, pickled)  # a pickle that weights_only refuses
    for path in (junk, pickled):
        for argv in (["info", "--explainer", path], ["explain", "--explainer", path, "--image", image]):
            code, out, err = run_cli(capsys, *argv)
            assert code == 2 and out == "" and err == f"fastdatashapley: error: {path} is not an explainer file\n"
            assert "weights_only" not in err


def test_cli_rejects_a_negative_payment(saved, capsys):
    for amount in ("-5", "-0.01", "nan", "inf"):
        code, out, err = run_cli(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                                 f"--pay={amount}")
        assert code == 2 and out == "" and "--pay must be a finite amount >= 0" in err, (amount, err)
    with pytest.raises(ValueError, match="amount must be finite and >= 0"):
        split_payment(np.array([1.0, 2.0]), -5)
    code, out, _ = run_cli(capsys, "explain", "--explainer", saved["path"], "--image", saved["folder"] / "x.npy",
                           "--pay", 0, "--json")
    assert code == 0


def test_loading_a_sound_file_still_works_and_is_quick(saved):
    t0 = time.process_time()  # CPU seconds (all threads): the load's own work, whatever else runs
    loaded = Explainer.load(saved["path"])
    assert time.process_time() - t0 < 5
    x = saved["image"][None]
    assert np.array_equal(loaded.values(x), saved["explainer"].values(x))


# -- workflow level: real snakemake on config/ci.yaml, in copies of conftest's ci_run ----------------------------

RUN = "results/ci"
SHARD, SHARD_LOG = f"{RUN}/shards/kernel-full/0.npz", f"{RUN}/logs/shards/kernel-full/0.log"
TABLE = f"{RUN}/utility/kernel-full.npz"


def final_outputs(workdir: Path, cfg: Path) -> list[str]:
    """What ``rule all`` asks for, read from a dry run (of a run with something left to do)."""
    proc = snakemake(workdir, "--dry-run", config=cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    block = text[text.index("rule all:"):]
    line = next(line for line in block.splitlines() if line.strip().startswith("input:"))
    return [f.strip() for f in line.split("input:", 1)[1].split(",")]


def kill_mid_shard(workdir: Path, cfg: Path, *args: str) -> None:
    """Run snakemake and SIGKILL its process group (snakemake and the job) while the kernel shard 0 is held at its
    "training" line (tests/hold_plugin.py): the shard job, and only it, is running when the kill comes."""
    with HeldRun(workdir, cfg, SHARD_LOG, "training", *args) as run:
        run.held()
        run.signal(signal.SIGKILL, GROUP)
        run.wait()
    assert not (workdir / SHARD).exists(), "a killed shard must leave no output"


@pytest.fixture(scope="module")
def resumed(ci_run, tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """The ci run stopped before its kernel shard 0 (the shard and all that follows it undone), run again and
    killed mid-shard, then ``--unlock`` and ``--rerun-incomplete``: (workdir, config, final outputs)."""
    work = copy_run(ci_run, tmp_path_factory.mktemp("resumed") / "work")
    cfg = hold_config(work.parent / "c.yaml")
    undo(work, cfg, SHARD)
    final = final_outputs(work, cfg)
    kill_mid_shard(work, cfg)
    assert not (work / TABLE).exists()
    assert snakemake(work, "--unlock", config=cfg).returncode == 0
    proc = snakemake(work, "--rerun-incomplete", config=cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work, cfg, final


@pytest.mark.slow
def test_kill_then_rerun_incomplete_restores_every_final_output(resumed, ci_run):
    work, cfg, final = resumed
    assert len(final) >= 8 and f"{RUN}/tables/value_loss.csv" in final
    assert [f for f in final if not (work / f).is_file()] == []
    proc = snakemake(work, "--dry-run", config=cfg)
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # as the uninterrupted run: the utility table bit for bit, every other output but the times it records
    assert (work / TABLE).read_bytes() == (ci_run / TABLE).read_bytes()
    assert results_digest(work) == results_digest(ci_run)
    assert not [p for p in (work / "results").rglob(".*") if p.is_file()], "temporary files left behind"
    # 7 and 8 on the real outputs: modes follow the umask; the provenance names seed and threads, not the CSV
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((work / f"{RUN}/tables/value_loss.csv").stat().st_mode) == 0o666 & ~mask
    prov = json.loads((work / f"{RUN}/tables/value_loss.provenance.json").read_text())
    loss = (work / f"{RUN}/tables/value_loss.csv").read_text().splitlines()
    assert prov["seed"] == 0 and set(prov["methods"]) == {row.split(",")[0] for row in loss[1:]}
    for label, path in (("fds", "per_sample/fds"), ("random/global", "global/random")):
        threads = load_values(work / f"{RUN}/values/{path}.npz")[1]["torch_threads"]
        assert prov["methods"][label]["values_torch_threads"] == threads in (1, 2)
        # the provenance names the thread count the removal file itself records
        removal = load_npz(work / f"{RUN}/removal/{path}.npz")
        assert prov["methods"][label]["removal_torch_threads"] == int(removal["torch_threads"]) in (1, 2)
    assert loss[0] == "method,eta,mean,std,ci_low,ci_high,n_test,p_vs_fds"


@pytest.mark.slow
def test_a_lost_intermediate_is_rebuilt_by_naming_it(resumed, tmp_path):
    """README, resume: a shard killed while it reran is gone, and neither a plain run nor ``--rerun-incomplete``
    rebuilds it (its consumers are up to date); naming it does, bit for bit. ``--forcerun`` names the one shard
    file (not the rule, which would force every shard, lds included, in an order that depends on load)."""
    work = copy_run(resumed[0], tmp_path / "work")
    cfg = resumed[1]
    kill_mid_shard(work, cfg, "--forcerun", SHARD)
    assert snakemake(work, "--unlock", config=cfg).returncode == 0
    for args in ((), ("--rerun-incomplete",)):
        proc = snakemake(work, "--dry-run", *args, config=cfg)
        assert "Nothing to be done" in proc.stdout + proc.stderr, args
    assert not (work / SHARD).exists() and [f for f in resumed[2] if not (work / f).is_file()] == []
    proc = snakemake(work, SHARD, config=cfg)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / SHARD).read_bytes() == (resumed[0] / SHARD).read_bytes()


@pytest.mark.slow
def test_rule_scripts_reject_values_of_the_wrong_shape(resumed, tmp_path):
    """4: a values file with one training point too many stops removal and top10_grid, naming the file."""
    work = copy_run(resumed[0], tmp_path / "work")
    cfg, path = resumed[1], f"{RUN}/values/per_sample/fds.npz"
    values, meta = load_values(work / path)
    save_values(work / path, np.concatenate([values, values[:1]]), meta)
    figure = f"{RUN}/figures/top10_fds.png"
    proc = snakemake(work, figure, f"{RUN}/removal/per_sample/fds.npz", "--keep-going", config=cfg)
    assert proc.returncode != 0
    message = f"values file {path} holds values of shape [21, 10, 10] with n = 21; expected n = 20, T = 10, m = 10"
    for log in ("top10/fds.log", "removal/per_sample/fds.log"):
        assert message in (work / f"{RUN}/logs" / log).read_text(), log
    assert not (work / figure).exists()


@pytest.mark.slow
@pytest.mark.parametrize("overrides, message", [
    ({"split": {"n_train": 25}}, "config error: split.n_train = 25 is not divisible by the 10 classes of digits"),
    ({"split": {"n_test": 5000}}, "config error: split.n_test = 5000 asks for 500 test images per class"),
    ({"split": {"n_pool": 2000}}, "config error: split.n_pool + split.n_val = 2020 exceeds the 1767 images"),
    ({"device": "cuda"}, "config error: device: cuda, but torch finds no CUDA device on this machine"),
    ({"run": ".."}, "config error: config key run = '..' breaks the schema rule 'pattern'"),
    ({"split": {"n_trian": 20}}, "config error: unknown key split.n_trian; config key split takes n_pool"),
    ({"noise": {"fraction": 0.6}}, "config error: config key noise.fraction = 0.6 breaks the schema rule 'maximum'"),
])
def test_config_errors_are_one_line_before_any_job(tmp_path, overrides, message):
    if "device" in overrides and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = snakemake(tmp_path, "--dry-run", config=write_config(tmp_path / "bad.yaml", **overrides))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in out, out
    assert len(out.strip().splitlines()) <= 4 and "Failed validating" not in out, out
    assert not (tmp_path / "results").exists()


def test_a_jobs_warnings_reach_its_log_as_warning_lines(tmp_path):
    import logging
    import sys
    import warnings

    from fastdatashapley.workflow.logs import setup_logging

    stderr, root_handlers = sys.stderr, logging.getLogger().handlers[:]
    try:
        log = setup_logging(tmp_path / "job.log", name="explainer")
        log.info("started")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("explainer fds: never left its untrained start", RuntimeWarning)
        sys.stderr.flush()
    finally:
        sys.stderr.close()
        sys.stderr = stderr
        logging.captureWarnings(False)
        logging.getLogger().handlers[:] = root_handlers
    lines = (tmp_path / "job.log").read_text().splitlines()
    assert lines[0].endswith("explainer INFO started")
    assert "py.warnings WARNING" in lines[1] and "RuntimeWarning: explainer fds: never left" in lines[1], lines
