"""FLOP counting behind the efficiency figures of benchmarks/engine.py, pinned against hand counts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
from torch import nn

from fastdatashapley.engine.models import build_service_model
from fastdatashapley.engine.training.flops import forward_macs, train_flops_per_image


def test_flops_hand_count_tiny_cnn():
    # conv 2->3, 3x3 on 2x6x6: 3x4x4 outputs x (2*3*3) = 864 MACs; pool -> 3x2x2; linear 12 -> 4: 48 MACs
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4))
    assert forward_macs(net, (2, 6, 6)) == [864, 48]
    # forward 2*912, weight grads 2*912, input grads 2*48 (the first layer has none)
    assert train_flops_per_image(net, (2, 6, 6)) == 2 * 912 + 2 * 912 + 2 * 48


def test_flops_service_archs():
    # digits_cnn 1x8x8: conv 1->16 4x4/2 -> 16x3x3 x 16 = 2304; linear 144 -> 10 = 1440
    assert forward_macs(build_service_model("digits_cnn", (1, 8, 8), 10), (1, 8, 8)) == [2304, 1440]
    # paper_cnn 1x28x28: 16x28x28 x 25, 32x10x10 x 400, 800 -> 10
    net = build_service_model("paper_cnn", (1, 28, 28), 10)
    assert forward_macs(net, (1, 28, 28)) == [313600, 1280000, 8000]
    assert train_flops_per_image(net, (1, 28, 28)) == 6 * 1601600 - 2 * 313600


def test_benchmark_counts_members_times_epochs():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "engine.py"
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))  # its shared fixtures, benchmarks/_common.py
    spec = importlib.util.spec_from_file_location("bench_engine", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_engine", bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    masks = np.zeros((3, 10), bool)
    masks[0, :7], masks[1, :1] = True, True  # 8 members in all; the empty coalition trains on nothing
    assert bench.train_gflop("digits_cnn", (1, 8, 8), masks, epochs=5) == 8 * 5 * 17856 / 1e9
