"""``benchmarks/gpu_check.py`` (``make gpu-check``) on a machine without CUDA, and its naive CUDA loop on the CPU."""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys

import numpy as np
import torch

from workflow_helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _module():
    if str(SCRIPT.parent) not in sys.path:
        sys.path.insert(0, str(SCRIPT.parent))  # its shared fixtures, benchmarks/_common.py
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_in_one_line_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # hides any GPU, so the test means the same everywhere
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    before = _children_cpu_seconds()
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=600)
    seconds = _children_cpu_seconds() - before  # CPU time: what the script spends, whatever else runs
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == _module().NO_CUDA + "\n"
    assert proc.stdout == "gpu-check: no CUDA device (torch.cuda.is_available() is False); nothing to check\n"
    assert seconds < 60, f"the no-CUDA path took {seconds:.1f} CPU seconds"


def _children_cpu_seconds() -> float:
    """User and system CPU seconds of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_naive_arm_is_the_library_reference_loop_on_the_device():
    """gpu_check's naive arm is train_single itself, run on the device it checks (here the CPU)."""
    from fastdatashapley.engine.training import predict_proba, train_single

    gpu_check = _module()
    spec, init, x, y, masks, probes = gpu_check._short_problem(n_coalitions=2, epochs=2, n_probes=16)
    for mask in masks:
        got = gpu_check.naive_utilities(spec, init, x, y, mask, probes, torch.device("cpu"))
        reference = predict_proba(spec, train_single(spec, init, x, y, mask, seed=0), probes)
        np.testing.assert_array_equal(got, reference)


def test_strict_fp32_restores_the_tf32_settings():
    gpu_check = _module()
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    with gpu_check.strict_fp32():
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
