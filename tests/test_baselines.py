"""The baselines on the real engine (digits, n = 9, every coalition retrained): the engine utility, LOO by
its definition, TMC and group testing converging to the exact per-sample values, CS-Shapley's class-wise
definition and per-class normalisation, and the random reference."""

from __future__ import annotations

import numpy as np
import pytest
from small_service import one_torch_thread, small_digits_service

from fastdatashapley import games as shapley
from fastdatashapley.engine.engine_utility import EngineUtility
from fastdatashapley.engine.retrainer import Retrainer
from fastdatashapley.engine.training import train_submodels
from fastdatashapley.games.scorers import Scorer, accuracy
from fastdatashapley.methods import METHODS, BaselineContext


@pytest.fixture(scope="module")
def setup():
    """Engine utilities (per sample and global) over 9 digits of classes 0-2 and 6 test images, with the
    exact per-sample values from all 2^9 retrained coalitions."""
    with one_torch_thread():
        ds, idx, service = small_digits_service(per_class=3)
        test = np.arange(200, 206)
        args = (service.spec, service.null_state, ds.x[idx], ds.y[idx], ds.x[test], ds.y[test])
        per_sample = engine_utility(args, "per_sample")
        exact = shapley.exact(per_sample, len(idx))
        yield {"args": args, "per_sample": per_sample, "exact": exact, "n": len(idx), "service": service}


def engine_utility(args, scope, seed=0):
    spec, init, x, y, x_test, y_test = args
    return EngineUtility(Retrainer(spec, init, x, y, seed=seed, device="cpu"), x_test, Scorer(scope, y_test))


def run_method(setup, name, scope, settings, seed=0):
    """Baseline ``name`` through the registry, as the workflow runs it: its ValuationResult."""
    spec, init, x, y, x_test, y_test = setup["args"]
    split = {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}
    return METHODS.get(name).run(BaselineContext(split, setup["service"], scope, settings, seed, "cpu"))


def fresh(setup, scope, seed=0):
    return engine_utility(setup["args"], scope, seed)


def rel_error(estimate, exact):
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


def test_engine_utility_is_the_sub_models_softmax_and_counts_retrainings(setup):
    spec, init, x, y, x_test, y_test = setup["args"]
    masks = np.random.default_rng(3).random((5, setup["n"])) < 0.6
    masks[0] = False
    with one_torch_thread():
        u = fresh(setup, "per_sample")
        out = u(masks)
        direct = train_submodels(spec, init, x, y, masks, x_test, seed=0, device="cpu")
        acc = fresh(setup, "global")(masks)
    assert out.shape == (5, len(y_test), 3) and out.dtype == np.float64
    assert np.array_equal(out, direct.astype(np.float64))
    assert u.retrained == 4  # the empty coalition is the null model: nothing trained
    assert np.array_equal(acc, (direct.argmax(2) == y_test[None]).mean(1))
    assert np.array_equal(acc, accuracy(direct, y_test))


def test_a_coalitions_utility_does_not_depend_on_its_batch(setup):
    masks = np.random.default_rng(4).random((6, setup["n"])) < 0.5
    with one_torch_thread():
        u = fresh(setup, "per_sample")
        together, reversed_ = u(masks), u(masks[::-1])[::-1]
    assert np.array_equal(together, reversed_)


def test_loo_is_its_definition(setup):
    n = setup["n"]
    with one_torch_thread():
        u = fresh(setup, "per_sample")
        values = shapley.loo(u, n)
        full = u(np.ones((1, n), bool))[0]
        without = u(~np.eye(n, dtype=bool))
    assert np.allclose(values, full[None] - without, atol=1e-12)


def test_tmc_converges_to_the_exact_per_sample_values(setup):
    n, exact = setup["n"], setup["exact"]
    with one_torch_thread():
        errors = [rel_error(shapley.tmc(fresh(setup, "per_sample"), n, p, truncation=None, seed=1), exact) for p in (4, 64)]
    assert errors[1] < errors[0] / 2 and errors[1] < 0.2, errors


def test_group_testing_converges_to_the_exact_per_sample_values(setup):
    n, exact = setup["n"], setup["exact"]
    with one_torch_thread():
        errors = [rel_error(shapley.group_testing(fresh(setup, "per_sample"), n, s, seed=1), exact) for s in (64, 2048)]
    assert errors[1] < errors[0] and errors[1] < 0.5, errors


def test_cs_shapley_per_sample_is_the_class_wise_game_of_the_softmax(setup):
    """Per sample, CS-Shapley is the class-wise estimator on the plain softmax utility, not normalised."""
    n = setup["n"]
    with one_torch_thread():
        u = fresh(setup, "per_sample", seed=2)  # the method's engine is seeded by the run's seed
        values = run_method(setup, "cs_shapley", "per_sample", {"n_contexts": 3, "n_permutations": 4}, 2).values
        again = run_method(setup, "cs_shapley", "per_sample", {"n_contexts": 3, "n_permutations": 4}, 2).values
    assert values.shape == (n, 6, 3) and np.array_equal(values, again)
    y = setup["args"][3]
    direct = shapley.class_wise(lambda masks, c: u.softmax(masks), y, 3, 4, seed=2)
    assert np.allclose(values, direct, atol=1e-12)


def test_cs_shapley_global_values_share_out_each_class_accuracy(setup):
    spec, init, x, y, x_test, y_test = setup["args"]
    with one_torch_thread():
        values = run_method(setup, "cs_shapley", "global", {"n_contexts": 2, "n_permutations": 3}).values
        full = fresh(setup, "global").softmax(np.ones((1, setup["n"]), bool))[0]
    correct = full.argmax(1) == y_test
    for c in range(3):
        share = (correct & (y_test == c)).sum() / len(y_test)
        total = values[y == c].sum()
        assert total == pytest.approx(share, abs=1e-12), (c, total, share)


def test_random_values_are_seeded_and_shaped(setup):
    def random(scope, seed):
        return run_method(setup, "random", scope, {}, seed).values

    a = random("per_sample", 5)
    assert a.shape == (9, 6, 3) and np.array_equal(a, random("per_sample", 5))
    assert random("global", 5).shape == (9,)
    assert not np.array_equal(a, random("per_sample", 6))


def test_unknown_scope_is_named(setup):
    with pytest.raises(ValueError, match="scope 'local'"):
        engine_utility(setup["args"], "local")


def test_group_testing_solver_setting_agrees_with_the_lp_and_shows_progress(setup, capfd):
    """``baselines.group_testing.solver``: absent means the LP (as before); ``closed_form`` is the LP's epsilon = 0
    solution without the n (n - 1) pairwise rows. The job's engine calls show a progress bar."""
    def run(settings):
        result = run_method(setup, "group_testing", "per_sample", settings)
        return result.values, result.retrained

    with one_torch_thread():
        lp, k_lp = run({"n_samples": 64, "epsilon": 1e-6})
        closed, k_closed = run({"n_samples": 64, "epsilon": 1e-6, "solver": "closed_form"})
        direct = shapley.group_testing(fresh(setup, "per_sample"), setup["n"], 64, seed=0, solver="closed_form")
    assert k_lp == k_closed == 65  # v(D) and the 64 tests; v(0) is the null model
    assert np.allclose(lp, closed, atol=1e-7) and np.array_equal(closed, direct)
    assert "retraining" in capfd.readouterr().err


def test_engine_utility_progress_bar_leaves_utilities_unchanged(setup, capfd):
    masks = np.random.default_rng(5).random((4, setup["n"])) < 0.5
    with one_torch_thread():
        quiet = fresh(setup, "per_sample")(masks)
        loud = fresh(setup, "per_sample")
        loud.progress = True
        shown = loud(masks)
    assert np.array_equal(quiet, shown) and "retraining" in capfd.readouterr().err


def test_tmc_block_positions_setting_retrains_the_same_walk_in_fewer_calls(setup):
    settings = {"n_permutations": 6, "tolerance": 0.01, "batch_permutations": 3}

    def run(extra):
        result = run_method(setup, "tmc", "per_sample", {**settings, **extra})
        return result.values, result.retrained

    with one_torch_thread():
        (walk, k_walk), (blocked, k_blocked) = run({}), run({"block_positions": 4})
    assert k_walk <= k_blocked <= k_walk + 2 * 3 * 3  # at most L - 1 discarded prefixes per permutation
    assert np.allclose(walk, blocked, atol=1e-5)  # the engine's rounding may depend on call-mates
