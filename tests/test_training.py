"""The batched retraining engine against the naive single-model reference, and its CRN rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fastdatashapley.engine.training import TrainerSpec, TrainingDivergedError, coalition_keys, epoch_orders, init_state, predict_proba, train_models, train_single, train_submodels

N = 14


def _data(in_shape, n=N, n_probes=9, m=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n + n_probes, *in_shape), dtype=np.float32)
    y = (np.arange(n) % m).astype(np.int64)
    return x[:n], y, x[n:]


def _masks(n=N, seed=1):
    """Empty, full, and sizes 1, 2, 5 (partial batch), 9, 13 in a scrambled order."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((7, n), bool)
    for row, size in zip(masks, [9, 0, 1, n, 5, 2, 13]):
        row[rng.choice(n, size, replace=False)] = True
    return masks


def _reference(spec, init, x, y, masks, probes, seed):
    """Utilities from train_single, one coalition at a time; per-epoch mean for utility='mean'."""
    out = []
    for mask in masks:
        per_epoch = []
        state = train_single(
            spec, init, x, y, mask, seed=seed, on_epoch=lambda e, net: per_epoch.append(predict_proba(spec, net.state_dict(), probes))
        )
        if spec.utility == "mean" and per_epoch:
            out.append(np.mean(per_epoch, 0))
        else:
            out.append(predict_proba(spec, state, probes))
    return np.stack(out)


CASES = [
    # arch, in_shape, optimizer, weight_decay, batch_size
    ("digits_cnn", (1, 8, 8), "adam", 0.0, 4),
    ("paper_cnn", (1, 16, 16), "adam", 0.01, 4),
    ("paper_cnn", (3, 12, 12), "sgd", 0.0, 3),
    ("digits_mlp", (1, 8, 8), "adam", 0.0, 5),
]


@pytest.mark.parametrize("arch,in_shape,optimizer,wd,batch", CASES)
def test_engine_matches_naive_loop(arch, in_shape, optimizer, wd, batch):
    x, y, probes = _data(in_shape)
    spec = TrainerSpec(arch, in_shape, 3, lr=0.01, epochs=3, batch_size=batch, optimizer=optimizer, weight_decay=wd)
    init = init_state(spec, 0)
    masks = _masks()
    got = train_submodels(spec, init, x, y, masks, probes, seed=5, chunk_size=3)
    want = _reference(spec, init, x, y, masks, probes, seed=5)
    assert got.shape == (len(masks), len(probes), 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    # the sub-models really trained: non-empty coalitions moved away from the null model
    null = predict_proba(spec, init, probes)
    np.testing.assert_array_equal(got[masks.sum(1) == 0], null[None])
    assert np.abs(got[masks.sum(1) > 0] - null).max() > 1e-3


def test_fused_conv_pool_training_path_matches_naive_loop(monkeypatch):
    """paper_cnn trains with grouped convolutions by default; force the fused conv+pool patch product too."""
    from fastdatashapley.engine.training import stacked

    monkeypatch.setattr(stacked, "FUSE_MAX_EXPANSION", 10**6)
    x, y, probes = _data((2, 12, 12))
    spec = TrainerSpec("paper_cnn", (2, 12, 12), 3, lr=0.01, epochs=2, batch_size=4)
    assert stacked._Stacked(spec.build(), spec.in_shape).fuse_train
    init = init_state(spec, 0)
    masks = _masks()
    got = train_submodels(spec, init, x, y, masks, probes, seed=1)
    np.testing.assert_allclose(got, _reference(spec, init, x, y, masks, probes, seed=1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("arch,in_shape", [("digits_cnn", (1, 8, 8)), ("paper_cnn", (1, 12, 12))])
def test_mean_utility_is_mean_of_per_epoch_softmax(arch, in_shape):
    x, y, probes = _data(in_shape)
    spec = TrainerSpec(arch, in_shape, 3, lr=0.02, epochs=3, batch_size=4).approx(epochs=2, lr_factor=2.0, utility="mean")
    assert (spec.epochs, spec.lr, spec.utility) == (2, 0.04, "mean")
    init = init_state(spec, 1)
    masks = _masks()
    got = train_submodels(spec, init, x, y, masks, probes, seed=2)
    np.testing.assert_allclose(got, _reference(spec, init, x, y, masks, probes, seed=2), atol=1e-5, rtol=0)
    last = train_submodels(TrainerSpec(**{**spec.to_dict(), "utility": "last"}), init, x, y, masks, probes, seed=2)
    assert np.abs(got - last)[masks.sum(1) > 0].max() > 1e-4  # the mean differs from the last epoch


def test_train_models_returns_the_reference_weights():
    x, y, _ = _data((1, 8, 8))
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3, lr=0.01, epochs=2, batch_size=4)
    init = init_state(spec, 0)
    masks = _masks()
    states = train_models(spec, init, x, y, masks, seed=3)
    assert len(states) == len(masks)
    for mask, state in zip(masks, states):
        ref = train_single(spec, init, x, y, mask, seed=3)
        assert set(state) == set(ref)
        for k in ref:
            assert state[k].device.type == "cpu" and state[k].shape == ref[k].shape
            torch.testing.assert_close(state[k], ref[k], atol=1e-6, rtol=0)
    for k in init:  # empty coalition = null model, exactly
        assert torch.equal(states[1][k], init[k])


def test_reproducible_and_independent_of_chunking_and_company():
    x, y, probes = _data((1, 8, 8))
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3, lr=0.01, epochs=2, batch_size=4)
    init = init_state(spec, 0)
    masks = _masks()
    a = train_submodels(spec, init, x, y, masks, probes, seed=7, chunk_size=4)
    b = train_submodels(spec, init, x, y, masks, probes, seed=7, chunk_size=4)
    np.testing.assert_array_equal(a, b)  # bit-identical on CPU
    c = train_submodels(spec, init, x, y, masks, probes, seed=7, chunk_size=1)
    np.testing.assert_allclose(a, c, atol=1e-6, rtol=0)
    # a coalition's result does not depend on the other coalitions of the design or its position
    alone = train_submodels(spec, init, x, y, masks[[6]], probes, seed=7)
    shuffled = train_submodels(spec, init, x, y, masks[::-1], probes, seed=7)
    np.testing.assert_allclose(alone[0], a[6], atol=1e-6, rtol=0)
    np.testing.assert_allclose(shuffled[::-1], a, atol=1e-6, rtol=0)
    # another seed gives another data order, hence other utilities
    d = train_submodels(spec, init, x, y, masks, probes, seed=8, chunk_size=4)
    assert np.abs(d - a)[(masks.sum(1) > 4)].max() > 1e-5


def test_data_order_is_a_seeded_function_of_the_mask():
    masks = _masks()
    keys = coalition_keys(3, masks)
    assert keys.dtype == np.uint64 and len(set(keys.tolist())) == len(masks)
    np.testing.assert_array_equal(coalition_keys(3, masks[::-1]), keys[::-1])
    assert not np.array_equal(coalition_keys(4, masks), keys)
    o0, o1 = epoch_orders(keys, masks, 0), epoch_orders(keys, masks, 1)
    np.testing.assert_array_equal(o0, epoch_orders(keys, masks, 0))
    for mask, row0, row1 in zip(masks, o0, o1):
        size = int(mask.sum())
        assert sorted(row0.tolist()) == list(range(N))  # a permutation
        assert set(row0[:size].tolist()) == set(np.flatnonzero(mask).tolist())  # members first
        if size >= 5:
            assert not np.array_equal(row0[:size], row1[:size])  # reshuffled each epoch


def test_init_state_is_seeded_and_leaves_global_rng_alone():
    spec = TrainerSpec("paper_cnn", (1, 28, 28), 10)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = init_state(spec, 0), init_state(spec, 0), init_state(spec, 1)
    assert torch.equal(torch.rand(1), before)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["0.weight"], c["0.weight"])


def test_empty_design_zero_epochs_and_all_empty():
    x, y, probes = _data((1, 8, 8))
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3, epochs=0)
    init = init_state(spec, 0)
    null = predict_proba(spec, init, probes)
    out = train_submodels(spec, init, x, y, _masks(), probes, seed=0)
    np.testing.assert_array_equal(out, np.broadcast_to(null, out.shape))
    none = train_submodels(spec, init, x, y, np.zeros((0, N), bool), probes, seed=0)
    assert none.shape == (0, len(probes), 3)


def test_divergence_is_an_error_naming_the_coalition():
    x, y, probes = _data((1, 8, 8))
    x[0] = 1e30  # a point that blows up any model trained on it
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3, lr=0.1, epochs=3, batch_size=4, optimizer="sgd")
    masks = np.ones((3, N), bool)
    masks[[0, 2], 0] = False
    with pytest.raises(TrainingDivergedError, match=r"coalition index\(es\) \[1\]"):
        train_submodels(spec, init_state(spec, 0), x, y, masks, probes, seed=0)


def test_trainer_spec_validation_and_round_trip():
    spec = TrainerSpec("digits_cnn", [1, 8, 8], 10, lr=1e-3, epochs=50, batch_size=20)
    d = spec.to_dict()
    assert json.loads(json.dumps(d)) == d and d["in_shape"] == [1, 8, 8]
    assert TrainerSpec.from_dict(d) == spec and spec.in_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="unknown TrainerSpec keys"):
        TrainerSpec.from_dict({**d, "momentum": 0.9})
    for bad, match in [({"utility": "max"}, "utility"), ({"optimizer": "rmsprop"}, "optimizer"), ({"lr": 0}, "lr"),
                       ({"batch_size": 0}, "batch_size"), ({"arch": "resnet"}, "resnet"), ({"in_shape": (8, 8)}, "in_shape")]:
        with pytest.raises(ValueError, match=match):
            TrainerSpec(**{**d, **bad})


def test_bad_inputs_name_the_argument():
    x, y, probes = _data((1, 8, 8))
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3, epochs=1)
    init = init_state(spec, 0)
    masks = _masks()
    with pytest.raises(TypeError, match="masks"):
        train_submodels(spec, init, x, y, masks.astype(int), probes, seed=0)
    with pytest.raises(ValueError, match="masks"):
        train_submodels(spec, init, x, y, masks[:, :-1], probes, seed=0)
    with pytest.raises(ValueError, match="y holds labels"):
        train_submodels(spec, init, x, y + 3, masks, probes, seed=0)
    with pytest.raises(ValueError, match="probes"):
        train_submodels(spec, init, x, y, masks, probes[:, :, :4], seed=0)
    with pytest.raises(ValueError, match="init"):
        train_submodels(spec, init_state(TrainerSpec("digits_mlp", (1, 8, 8), 3), 0), x, y, masks, probes, seed=0)
    with pytest.raises(ValueError, match="chunk_size"):
        train_submodels(spec, init, x, y, masks, probes, seed=0, chunk_size=0)


def test_progress_bar_and_auto_device(capsys):
    x, y, probes = _data((1, 8, 8))
    spec = TrainerSpec("digits_mlp", (1, 8, 8), 3, epochs=1, batch_size=4)
    out = train_submodels(spec, init_state(spec, 0), x, y, _masks(), probes, seed=0, device="auto", progress=True)
    assert out.shape == (7, len(probes), 3)
    assert "coalition" in capsys.readouterr().err
