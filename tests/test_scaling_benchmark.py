"""benchmarks/scaling.py: the exponent fits on exact power laws, the table-bytes measurement against the array
sizes, the synthetic data and the goal checks (no training)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def scaling():
    """benchmarks/scaling.py as a module (it imports its sibling benchmarks engine.py and explainer.py)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("scaling_bench", BENCH / "scaling.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["scaling_bench"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_slope_of_exact_power_laws(scaling):
    n = np.array([100, 300, 1000, 3000, 10_000])
    assert scaling.loglog_slope(n, 3 * n**1.5) == pytest.approx(1.5, abs=1e-12)
    assert scaling.loglog_slope(n, 0.02 * n) == pytest.approx(1.0, abs=1e-12)
    assert scaling.loglog_slope(n, np.full(5, 7.0)) == pytest.approx(0.0, abs=1e-12)
    # the n-dependent part of an affine quantity grows with slope 1, whatever its constant
    assert scaling.increment_slope(n, 5e8 + 40.0 * n) == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(scaling.increment_slope(n[:2], 5.0 + n[:2]))  # one increment: no fit


def test_table_bytes_are_the_array_sizes(scaling):
    from fastdatashapley.engine.utility_table import UtilityTable

    s, n, p, m = 3, 5, 2, 4
    table = UtilityTable(np.zeros((s, n), bool), np.zeros((s, p, m), np.float32), np.zeros((p, m), np.float32),
                         np.zeros((p, m), np.float32), np.arange(p))
    # masks 3*5 bool + utilities 3*2*4 float32 + null, grand 2*4 float32 each + probe ids 2 int64
    assert scaling.table_nbytes(table) == 15 + 96 + 32 + 32 + 16 == scaling.expected_table_bytes(s, n, p, m)


def test_made_up_table_has_the_shapes_of_a_real_one(scaling):
    from fastdatashapley.engine.service import ServiceModel
    from fastdatashapley.engine.training import TrainerSpec, init_state

    spec = TrainerSpec("digits_cnn", (1, 8, 8), 10)
    init = init_state(spec, 0)
    probes, labels = scaling.blobs(20, seed=1)
    assert probes.shape == (20, 1, 8, 8) and probes.dtype == np.float32
    assert probes.min() >= 0 and probes.max() <= 1 and np.bincount(labels).tolist() == [2] * 10
    table = scaling.made_up_table(ServiceModel(spec, init, init, 0), probes, n=7, s=6)
    assert table.utilities.shape == (6, 20, 10) and table.masks.shape == (6, 7)
    assert scaling.table_nbytes(table) == scaling.expected_table_bytes(6, 7, 20) == 6 * 7 + 4 * 6 * 20 * 10 + 8 * 200 + 160


def test_goals(scaling):
    cfg = scaling.Config((100, 1000, 10_000), 4, 1, 8, 4, 2, 1, 1)
    rows = []
    for n in cfg.ns:
        rows.append({"n": n, "retrain_s": 1e-5 * n, "table_bytes": scaling.expected_table_bytes(8, n, 6),
                     "explainer_epoch_s": 1.0, "latency1_ms": 1 + n / 5000, "latency256_ms": 0.1,
                     "params_bytes": 1000 + 40 * n, "rss_extra_mib": 100 + n / 100})
    met = [ok for _, ok, _ in scaling.goals(rows, scaling.slopes(rows), cfg)]
    assert met == [True, True, True]  # slope 1, 3 ms at n = 10,000, exact table bytes and affine memory
    rows[-1]["latency1_ms"], rows[-1]["params_bytes"] = 6.0, 40 * 10_000**2
    met = [ok for _, ok, _ in scaling.goals(rows, scaling.slopes(rows), cfg)]
    assert met == [True, False, False]
    assert scaling.goals(rows[:2], scaling.slopes(rows[:2]), cfg)[1][1] is None  # n = 10,000 not measured
