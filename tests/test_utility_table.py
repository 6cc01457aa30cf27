"""Utility tables: computing, saving, validated loading and merging of shards."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from fastdatashapley.base.io import save_npz
from fastdatashapley.engine.retrainer import Retrainer
from fastdatashapley.engine.training import TrainerSpec, init_state, predict_proba, train_models, train_submodels
from fastdatashapley.engine.utility_table import UtilityTable, compute_table, merge

N, P, M = 10, 6, 3
SPEC = TrainerSpec("digits_mlp", (1, 8, 8), M, lr=0.02, epochs=2, batch_size=4)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    x = rng.random((N + P, 1, 8, 8), dtype=np.float32)
    y = (np.arange(N) % M).astype(np.int64)
    masks = rng.random((8, N)) < 0.5
    init = init_state(SPEC, 0)
    return x[:N], y, x[N:], masks, init


def _table(setup, rows=slice(None), shard=0) -> UtilityTable:
    x, y, probes, masks, init = setup
    return compute_table(Retrainer(SPEC, init, x, y, seed=3), masks[rows], probes, np.arange(100, 100 + P),
                         meta={"design": "kernel", "shard": {"index": shard}})


def test_compute_table_packages_engine_outputs(setup):
    x, y, probes, masks, init = setup
    t = _table(setup)
    assert (t.n, t.n_coalitions, t.n_probes, t.n_classes) == (N, len(masks), P, M)
    np.testing.assert_array_equal(t.utilities, train_submodels(SPEC, init, x, y, masks, probes, seed=3))
    np.testing.assert_array_equal(t.null, predict_proba(SPEC, init, probes))
    service = train_models(SPEC, init, x, y, np.ones((1, N), bool), seed=3)[0]  # f_D, as the service rule trains it
    np.testing.assert_allclose(t.grand, predict_proba(SPEC, service, probes), atol=1e-6, rtol=0)
    assert t.meta["trainer"] == SPEC.to_dict() and t.meta["seed"] == 3 and t.trainer() == SPEC
    np.testing.assert_allclose(t.utilities.sum(-1), 1.0, atol=1e-5)


def test_save_load_round_trip(setup, tmp_path):
    t = _table(setup)
    path = tmp_path / "sub" / "table.npz"
    t.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["table.npz"]  # no temp files left behind
    u = UtilityTable.load(path)
    assert u == t and u.source == str(path) and u.meta == json.loads(json.dumps(t.meta))
    for name in ("masks", "utilities", "null", "grand", "probe_ids"):
        assert getattr(u, name).dtype == getattr(t, name).dtype


def test_truncated_or_corrupted_files_are_rejected_by_name(setup, tmp_path):
    path = tmp_path / "shard.npz"
    _table(setup).save(path)
    raw = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="cut.npz"):
        UtilityTable.load(cut)
    # change one stored utility without updating the checksum
    flipped = tmp_path / "flipped.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["utilities"] = arrays["utilities"].copy()
    arrays["utilities"][0, 0, 0] += 0.25
    np.savez(flipped, **arrays)
    with pytest.raises(ValueError, match="flipped.npz.*checksum"):
        UtilityTable.load(flipped)
    with pytest.raises(ValueError, match="missing.npz"):
        UtilityTable.load(tmp_path / "missing.npz")
    assert zipfile.is_zipfile(path)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda a: a.update(utilities=a["utilities"].astype(np.float64)), "dtype"),
        (lambda a: a.update(masks=a["masks"][:-1]), "rows"),
        (lambda a: a.update(null=a["null"][:, :2]), "null must have shape"),
        (lambda a: a.update(probe_ids=a["probe_ids"][:3]), "probe_ids"),
        (lambda a: a["utilities"].__setitem__((1, 2, 0), np.nan), "NaN"),
        (lambda a: a.update(meta=np.array("[1, 2]")), "JSON object"),
        (lambda a: a.pop("grand"), "missing"),
    ],
)
def test_inconsistent_contents_are_rejected_by_name(setup, tmp_path, change, match):
    t = _table(setup)
    arrays = dict(masks=t.masks, utilities=t.utilities.copy(), null=t.null, grand=t.grand, probe_ids=t.probe_ids,
                  meta=np.array(json.dumps(t.meta)), format=np.array(1))
    change(arrays)
    path = tmp_path / "bad_table.npz"
    save_npz(path, **arrays)  # a valid checksum over invalid contents
    with pytest.raises(ValueError, match=rf"bad_table\.npz.*{match}"):
        UtilityTable.load(path)


def test_merge_concatenates_agreeing_shards(setup, tmp_path):
    whole = _table(setup)
    paths = []
    for i, rows in enumerate([slice(0, 3), slice(3, 8)]):
        paths.append(tmp_path / f"shard{i}.npz")
        _table(setup, rows, shard=i).save(paths[-1])
    merged = merge([UtilityTable.load(p) for p in paths])
    np.testing.assert_array_equal(merged.masks, whole.masks)
    np.testing.assert_allclose(merged.utilities, whole.utilities, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(merged.null, whole.null)
    assert merged.meta["shards"] == [{"index": 0}, {"index": 1}] and "shard" not in merged.meta
    assert merged.meta["trainer"] == SPEC.to_dict()


def test_blocks_make_the_table_independent_of_the_shard_layout(setup):
    """With ``block``, one shard of the whole design and shards cut on block boundaries give bit-identical rows,
    each block's rows being exactly one engine run over that block (a shard inside a block is a run of its own)."""
    x, y, probes, masks, init = setup
    r = Retrainer(SPEC, init, x, y, seed=3)

    def rows(first: int, stop: int, block: int | None) -> np.ndarray:
        return compute_table(r, masks[first:stop], probes, np.arange(P), first_row=first, block=block).utilities

    whole = rows(0, 8, 4)
    np.testing.assert_array_equal(np.concatenate([rows(0, 4, 4), rows(4, 8, 4)]), whole)
    for a in (0, 4):
        np.testing.assert_array_equal(whole[a : a + 4], r.softmax(masks[a : a + 4], probes))
    np.testing.assert_array_equal(rows(0, 8, None), r.softmax(masks, probes))
    with pytest.raises(ValueError, match="block must be >= 1"):
        rows(0, 8, 0)


def test_merge_names_the_disagreeing_shard(setup, tmp_path):
    x, y, probes, masks, init = setup
    good = _table(setup, slice(0, 3))
    bad_path = tmp_path / "other_spec.npz"
    other = TrainerSpec(**{**SPEC.to_dict(), "lr": 0.5})
    retrainer = Retrainer(other, init, x, y, seed=3)
    compute_table(retrainer, masks[3:], probes, np.arange(100, 100 + P), meta={"design": "kernel"}).save(bad_path)
    with pytest.raises(ValueError, match="other_spec.npz"):
        merge([good, UtilityTable.load(bad_path)])
    shifted = UtilityTable(good.masks, good.utilities, good.null, good.grand, good.probe_ids + 1, dict(good.meta, shard=7))
    with pytest.raises(ValueError, match=r"shard'\] = 7.*probe_ids"):
        merge([good, shifted])
    with pytest.raises(ValueError, match="at least one"):
        merge([])


def test_as_utility_answers_from_the_table(setup):
    t = _table(setup)
    u = t.as_utility()
    rows = u(t.masks[[2, 0]])
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(rows, t.utilities[[2, 0]])
    np.testing.assert_array_equal(u(np.zeros((1, N), bool))[0], t.null)
    np.testing.assert_array_equal(u(np.ones((1, N), bool))[0], t.grand)
    unseen = ~t.masks[:1]
    if not any((unseen == m).all() for m in t.masks) and 0 < unseen.sum() < N:
        with pytest.raises(KeyError, match="1 of 1"):
            u(unseen)
    sub = t.select([1, 3])
    np.testing.assert_array_equal(sub.utilities, t.utilities[[1, 3]])


def test_construction_checks_types():
    with pytest.raises(TypeError, match="masks"):
        UtilityTable(np.zeros((2, 3)), np.zeros((2, 1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="grand must have shape"):
        UtilityTable(np.zeros((2, 3), bool), np.zeros((2, 1, 2)), np.zeros((1, 2)), np.zeros((2, 2)), np.zeros(1, np.int64))
