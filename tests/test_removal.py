"""Removal masks and the value-loss experiment."""

import numpy as np
import pytest

from fastdatashapley.data import load_dataset
from fastdatashapley.evaluation.removal import CURVE_FRACTIONS, per_sample_values, removal_masks, value_loss
from fastdatashapley.engine.retrainer import Retrainer
from fastdatashapley.engine.training import TrainerSpec, init_state, predict_proba, train_models, train_single


def test_masks_remove_exactly_the_top_fraction():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(20, 3))
    masks = removal_masks(values, [0.0, 0.1, 0.5])
    assert masks.shape == (3, 3, 20)
    assert masks[:, 0].all()
    for t in range(3):
        top = np.argsort(-values[:, t])
        assert set(np.flatnonzero(~masks[t, 1])) == set(top[:2])
        assert set(np.flatnonzero(~masks[t, 2])) == set(top[:10])


def test_ties_are_deterministic_and_global_values_repeat():
    values = per_sample_values(np.zeros(6), np.array([0, 1]))
    assert values.shape == (6, 2)
    masks = removal_masks(values, [0.5])
    assert np.array_equal(np.flatnonzero(~masks[0, 0]), [0, 1, 2])
    assert np.array_equal(masks[0], masks[1])


def test_per_sample_values_pick_the_label_column():
    values = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    picked = per_sample_values(values, np.array([3, 0, 2]))
    assert np.array_equal(picked, values[:, [0, 1, 2], [3, 0, 2]])
    with pytest.raises(ValueError, match="test labels"):
        per_sample_values(values, np.array([4, 0, 0]))
    with pytest.raises(ValueError, match="values must be"):
        per_sample_values(values, np.array([0, 0]))


def test_bad_fractions_and_nan_values():
    with pytest.raises(ValueError, match="fractions"):
        removal_masks(np.zeros((4, 1)), [1.0])
    with pytest.raises(ValueError, match="NaN"):
        removal_masks(np.full((4, 1), np.nan), [0.5])


def test_value_loss_matches_direct_retraining():
    ds = load_dataset("digits")
    idx = np.concatenate([np.flatnonzero(ds.y == c)[:3] for c in range(10)])
    x, y = ds.x[idx], ds.y[idx]
    x_test, y_test = ds.x[1000:1003], ds.y[1000:1003]
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 10, lr=0.01, epochs=3, batch_size=8)
    init = init_state(spec, 0)
    values = np.random.default_rng(1).normal(size=(30, 3, 10))
    result = value_loss(Retrainer(spec, init, x, y, seed=0, device="cpu"), x_test, y_test, values, [0.0, 0.2])
    assert result.loss.shape == (3, 2) and result.n_retrained == 4  # eta = 0 is shared by all samples
    masks = removal_masks(per_sample_values(values, y_test), [0.0, 0.2])
    for t in range(3):
        for f in range(2):
            state = train_single(spec, init, x, y, masks[t, f], seed=0)
            p = predict_proba(spec, state, x_test[t : t + 1])[0, y_test[t]]
            assert result.loss[t, f] == pytest.approx(-np.log(p), rel=1e-4, abs=1e-5)
    full = train_models(spec, init, x, y, np.ones((1, 30), bool), seed=0)[0]
    assert np.allclose(result.loss[:, 0], -np.log(predict_proba(spec, full, x_test)[np.arange(3), y_test]), atol=1e-5)
    rows = result.summary()
    assert [r["eta"] for r in rows] == [0.0, 0.2] and rows[0]["n_test"] == 3


def test_curve_fractions():
    assert CURVE_FRACTIONS[0] == 0.0 and CURVE_FRACTIONS[-1] == 0.9 and len(CURVE_FRACTIONS) == 19
