"""FreeShap: empirical NTK, kernel-ridge utility, incremental TMC (checked against definitions)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.kernel_ridge import KernelRidge
from torch.func import functional_call

from fastdatashapley.games import FreeShapSettings, Truncation, freeshap_values, freeshap_values_global
from fastdatashapley.games.krr import KernelRidgeUtility, krr_prefix_scores, normalize_kernels
from fastdatashapley.games.ntk import empirical_ntk, ntk_kernels


# ---------------------------------------------------------------- fixtures

NO_TRUNCATION = FreeShapSettings(truncation=None)


def random_kernel(n: int, T: int, rank: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A PSD kernel from random features: ``K [n, n]``, ``K_x [T, n]``; rank < n makes it singular."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n + T, rank)) * rng.uniform(0.5, 3.0, size=rank)
    G = X @ X.T
    return G[:n, :n], G[n:, :n]


def tiny_cnn(m: int = 3) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(2 * 3 * 3, m),
    ).double()


def tiny_mlp(m: int = 4) -> torch.nn.Module:
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, m)).double()


def explicit_jacobian(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``[N, m, P]``: d model(x_i)_c / d theta by torch.autograd.functional.jacobian on a flat theta."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def unflatten(t: torch.Tensor) -> dict[str, torch.Tensor]:
        out, i = {}, 0
        for name, shape in zip(names, shapes):
            size = math.prod(shape)
            out[name] = t[i : i + size].reshape(shape)
            i += size
        return out

    rows = []
    for xi in x:
        f = lambda t: functional_call(model, unflatten(t), (xi[None],)).reshape(-1)  # noqa: E731
        rows.append(torch.autograd.functional.jacobian(f, theta))  # [m, P]
    return torch.stack(rows)


def exact_shapley(utility, n: int) -> np.ndarray:
    """Shapley values by enumerating all 2^n subsets of ``utility(masks [k, n]) -> [k, *out]``."""
    masks = np.array(list(itertools.product([False, True], repeat=n)))
    v = utility(masks)
    index = {tuple(mk): i for i, mk in enumerate(masks)}
    phi = np.zeros((n,) + v.shape[1:])
    for mk in masks:
        s = int(mk.sum())
        for i in np.flatnonzero(~mk):
            with_i = mk.copy()
            with_i[i] = True
            w = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            phi[i] += w * (v[index[tuple(with_i)]] - v[index[tuple(mk)]])
    return phi


# ---------------------------------------------------------------- empirical NTK


@pytest.mark.parametrize("make_model,shape", [(tiny_cnn, (1, 6, 6)), (tiny_mlp, (5,))])
def test_ntk_equals_explicit_jacobian(make_model, shape):
    model = make_model()
    torch.manual_seed(2)
    xa, xb = torch.randn(5, *shape, dtype=torch.float64), torch.randn(3, *shape, dtype=torch.float64)
    Ja, Jb = explicit_jacobian(model, xa), explicit_jacobian(model, xb)
    want = torch.einsum("amp,bmp->ab", Ja, Jb).numpy()
    got = empirical_ntk(model, xa, xb, batch_size=2, device="cpu")
    assert got.dtype == np.float64 and got.shape == (5, 3)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # one logit's kernel
    want1 = torch.einsum("ap,bp->ab", Ja[:, 1], Jb[:, 1]).numpy()
    np.testing.assert_allclose(empirical_ntk(model, xa, xb, output=1, device="cpu"), want1, rtol=1e-10, atol=1e-12)
    # the trace kernel is the sum of the per-logit kernels
    m = Ja.shape[1]
    per_logit = sum(empirical_ntk(model, xa, xb, output=c, device="cpu") for c in range(m))
    np.testing.assert_allclose(got, per_logit, rtol=1e-10)


def test_ntk_symmetric_psd_and_kernel_pair():
    model = tiny_cnn()
    model.train()
    torch.manual_seed(3)
    x = torch.randn(8, 1, 6, 6, dtype=torch.float64)
    xt = torch.randn(4, 1, 6, 6, dtype=torch.float64)
    K = empirical_ntk(model, x, device="cpu", batch_size=3)
    assert np.array_equal(K, K.T)
    assert np.linalg.eigvalsh(K).min() > -1e-9 * np.abs(K).max()
    assert model.training  # mode restored
    K2, Kx = ntk_kernels(model, x, xt, device="cpu", batch_size=3)
    np.testing.assert_allclose(K2, K, rtol=1e-12)
    np.testing.assert_allclose(Kx, empirical_ntk(model, xt, x, device="cpu"), rtol=1e-12)


def test_ntk_float32_model_and_scalar_output():
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))  # float32, m = 1
    x = torch.randn(6, 3)
    J = explicit_jacobian(model.double(), x.double())
    want = torch.einsum("amp,bmp->ab", J, J).numpy()
    model.float()
    np.testing.assert_allclose(empirical_ntk(model, x, device="cpu"), want, rtol=1e-4, atol=1e-6)


def test_ntk_bad_inputs():
    model = tiny_mlp()
    x = torch.randn(3, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="trailing shape"):
        empirical_ntk(model, x, torch.randn(3, 6, dtype=torch.float64))
    with pytest.raises(TypeError, match="x_a"):
        empirical_ntk(model, x.numpy())
    with pytest.raises(ValueError, match="batch_size"):
        empirical_ntk(model, x, batch_size=0)
    with pytest.raises(ValueError, match="output"):
        empirical_ntk(model, x, output=9, device="cpu")
    with pytest.raises(TypeError, match="model"):
        empirical_ntk("not a model", x)


# ---------------------------------------------------------------- kernel ridge utility


@pytest.mark.parametrize("normalize", [True, False])
def test_krr_utility_matches_sklearn(normalize):
    n, T, m = 12, 7, 3
    K, Kx = random_kernel(n, T, rank=20, seed=1)
    rng = np.random.default_rng(5)
    y, yt = rng.integers(0, m, n), rng.integers(0, m, T)
    ridge = 1e-3
    u = KernelRidgeUtility(K, Kx, y, m, ridge, y_test=yt, normalize=normalize)
    masks = rng.random((6, n)) < 0.6
    masks[0] = True
    Kn, Kxn = (normalize_kernels(K, Kx)[:2]) if normalize else (K, Kx)
    scores, util, acc = u.scores(masks), u(masks), u.accuracy(masks)
    assert util.shape == (6, T, m) and acc.shape == (6,)
    for i, mk in enumerate(masks):
        idx = np.flatnonzero(mk)
        kr = KernelRidge(alpha=ridge, kernel="precomputed").fit(Kn[np.ix_(idx, idx)], np.eye(m)[y[idx]])
        pred = kr.predict(Kxn[:, idx])
        np.testing.assert_allclose(scores[i], pred, rtol=1e-8, atol=1e-10)
        e = np.exp(pred - pred.max(1, keepdims=True))
        np.testing.assert_allclose(util[i], e / e.sum(1, keepdims=True), rtol=1e-8)
        assert acc[i] == pytest.approx(np.mean(pred.argmax(1) == yt))


def test_krr_utility_kinds_and_empty_mask():
    n, T, m = 8, 5, 4
    K, Kx = random_kernel(n, T, rank=10)
    y = np.arange(n) % m
    masks = np.zeros((2, n), dtype=bool)
    masks[1, :5] = True
    kw = dict(y_test=np.zeros(T, dtype=int))
    soft = KernelRidgeUtility(K, Kx, y, m, **kw)
    corr = KernelRidgeUtility(K, Kx, y, m, utility="correct", **kw)
    score = KernelRidgeUtility(K, Kx, y, m, utility="score", **kw)
    np.testing.assert_allclose(soft(masks)[0], 1 / m)  # empty mask: uniform
    np.testing.assert_allclose(corr(masks)[0], 1 / m)
    np.testing.assert_allclose(score(masks)[0], 0.0)
    assert soft.accuracy(masks)[0] == pytest.approx(1 / m)
    F = score(masks)[1]
    np.testing.assert_array_equal(corr(masks)[1], (F == F.max(1, keepdims=True)).astype(float))
    np.testing.assert_allclose(soft(masks).sum(-1), 1.0)
    # scaling the kernel changes nothing once normalised
    np.testing.assert_allclose(KernelRidgeUtility(7.5 * K, 7.5 * Kx, y, m, **kw)(masks), soft(masks), rtol=1e-10)


def test_krr_singular_kernel_is_finite():
    n, T, m = 30, 6, 3
    K, Kx = random_kernel(n, T, rank=4)  # rank 4 < n: only the ridge keeps K_SS invertible
    y = np.arange(n) % m
    out = KernelRidgeUtility(K, Kx, y, m)(np.ones((1, n), dtype=bool))
    assert np.all(np.isfinite(out))


# ---------------------------------------------------------------- incremental versus refit


@pytest.mark.parametrize("rank", [40, 6])
def test_incremental_prefix_equals_refit(rank):
    n, T, m = 25, 6, 4
    K, Kx = random_kernel(n, T, rank=rank, seed=rank)
    y = np.random.default_rng(0).integers(0, m, n)
    order = np.random.default_rng(1).permutation(n)
    inc = krr_prefix_scores(K, Kx, y, m, order)
    ref = krr_prefix_scores(K, Kx, y, m, order, method="refit")
    assert inc.shape == (n + 1, T, m)
    np.testing.assert_array_equal(inc[0], 0.0)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(inc, ref, atol=1e-7 * scale)
    u = KernelRidgeUtility(K, Kx, y, m, utility="score")
    masks = np.zeros((n + 1, n), dtype=bool)
    for s in range(1, n + 1):
        masks[s, order[:s]] = True
    np.testing.assert_allclose(inc, u.scores(masks), atol=1e-7 * scale)


# ---------------------------------------------------------------- Shapley values


@pytest.mark.parametrize("utility", ["softmax", "correct", "score"])
def test_all_permutations_give_exact_shapley(utility):
    n, T, m = 5, 4, 3
    K, Kx = random_kernel(n, T, rank=8, seed=7)
    y = np.array([0, 1, 2, 0, 1])
    perms = np.array(list(itertools.permutations(range(n))))
    settings = FreeShapSettings(truncation=None, utility=utility, ridge=1e-4)
    got = freeshap_values(K, Kx, y, m, 0, permutations=perms, settings=settings)
    want = exact_shapley(KernelRidgeUtility(K, Kx, y, m, 1e-4, utility=utility), n)
    assert got.shape == (n, T, m) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, atol=1e-10)
    # the refit path and tiny batches give the same numbers
    np.testing.assert_allclose(
        freeshap_values(K, Kx, y, m, 0, permutations=perms,
                        settings=FreeShapSettings(truncation=None, utility=utility, ridge=1e-4, method="refit",
                                                  batch_size=7)), want, atol=1e-10)


def test_global_all_permutations_give_exact_shapley():
    n, T, m = 5, 9, 3
    K, Kx = random_kernel(n, T, rank=8, seed=8)
    y, yt = np.array([0, 1, 2, 2, 1]), np.random.default_rng(0).integers(0, m, T)
    perms = np.array(list(itertools.permutations(range(n))))
    got = freeshap_values_global(K, Kx, y, yt, m, 0, permutations=perms, settings=NO_TRUNCATION)
    want = exact_shapley(KernelRidgeUtility(K, Kx, y, m, y_test=yt).accuracy, n)
    assert got.shape == (n,)
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_random_permutations_converge_and_efficiency():
    n, T, m = 5, 3, 3
    K, Kx = random_kernel(n, T, rank=8, seed=9)
    y = np.array([0, 1, 2, 0, 1])
    u = KernelRidgeUtility(K, Kx, y, m)
    want = exact_shapley(u, n)
    got = freeshap_values(K, Kx, y, m, 3000, seed=1, settings=NO_TRUNCATION)
    gap = u(np.ones((1, n), dtype=bool))[0] - u(np.zeros((1, n), dtype=bool))[0]
    np.testing.assert_allclose(got.sum(0), gap, atol=1e-12)  # efficiency, averaged
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max() + 1e-3
    for seed in range(3):  # efficiency holds for every single permutation
        one = freeshap_values(K, Kx, y, m, 1, seed=seed, settings=NO_TRUNCATION)
        np.testing.assert_allclose(one.sum(0), gap, atol=1e-12)
    # seeded: reproducible
    np.testing.assert_array_equal(got, freeshap_values(K, Kx, y, m, 3000, seed=1, settings=NO_TRUNCATION))


def test_truncation_stops_after_patience_steps():
    n, T, m = 12, 3, 3
    K, Kx = random_kernel(n, T, rank=15, seed=10)
    y = np.arange(n) % m
    order = np.random.default_rng(3).permutation(n)
    soft = lambda F: np.exp(F) / np.exp(F).sum(-1, keepdims=True)  # noqa: E731
    marg = np.diff(soft(krr_prefix_scores(K, Kx, y, m, order)), axis=0)  # [n, T, m]
    for patience in (0, 2, 5):
        # a huge tolerance: every prefix is "within" it, so the walk stops after patience + 1 steps
        settings = FreeShapSettings(truncation=Truncation(1e9, patience=patience))
        got = freeshap_values(K, Kx, y, m, 0, permutations=order[None], settings=settings)
        want = np.zeros_like(got)
        keep = order[: patience + 1]
        want[keep] = marg[: patience + 1]
        np.testing.assert_allclose(got, want, atol=1e-12)
    # truncation on a batch of permutations agrees with truncating each permutation on its own
    perms = np.stack([np.random.default_rng(s).permutation(n) for s in range(8)])
    loose = FreeShapSettings(truncation=Truncation(0.2))
    batched = freeshap_values(K, Kx, y, m, 0, permutations=perms, settings=loose)
    single = np.mean([freeshap_values(K, Kx, y, m, 0, permutations=p[None], settings=loose) for p in perms], axis=0)
    np.testing.assert_allclose(batched, single, atol=1e-12)
    refit_settings = FreeShapSettings(truncation=Truncation(0.2), method="refit")
    refit = freeshap_values(K, Kx, y, m, 0, permutations=perms, settings=refit_settings)
    np.testing.assert_allclose(batched, refit, atol=1e-10)


# ---------------------------------------------------------------- bad input


def test_bad_inputs_raise():
    n, T, m = 6, 3, 3
    K, Kx = random_kernel(n, T, rank=8)
    y = np.arange(n) % m
    with pytest.raises(ValueError, match="K_train"):
        freeshap_values(K[:, :5], Kx, y, m, 2)
    with pytest.raises(ValueError, match="K_test_train"):
        freeshap_values(K, Kx[:, :5], y, m, 2)
    with pytest.raises(ValueError, match="symmetric"):
        KernelRidgeUtility(K + np.triu(np.ones((n, n)), 1), Kx, y, m)
    with pytest.raises(ValueError, match="y_train"):
        KernelRidgeUtility(K, Kx, np.array([0, 1, 2, 3, 0, 1]), m)
    with pytest.raises(ValueError, match="y_train"):
        KernelRidgeUtility(K, Kx, y[:5], m)
    with pytest.raises(ValueError, match="y_train"):
        KernelRidgeUtility(K, Kx, -y, m)
    with pytest.raises(ValueError, match="n_classes"):
        KernelRidgeUtility(K, Kx, y, 1)
    with pytest.raises(ValueError, match="ridge"):
        KernelRidgeUtility(K, Kx, y, m, ridge=0.0)
    with pytest.raises(ValueError, match="finite"):
        KernelRidgeUtility(np.full((n, n), np.nan), Kx, y, m)
    u = KernelRidgeUtility(K, Kx, y, m)
    with pytest.raises(ValueError, match="masks"):
        u(np.ones((2, n + 1), dtype=bool))
    with pytest.raises(ValueError, match="y_test"):
        u.accuracy(np.ones((1, n), dtype=bool))
    with pytest.raises(ValueError, match="y_test"):
        freeshap_values_global(K, Kx, y, np.array([0, 1, 5]), m, 2)
    with pytest.raises(ValueError, match="utility"):
        FreeShapSettings(utility="logits")
    with pytest.raises(ValueError, match="temperature"):
        FreeShapSettings(temperature=0.0)
    with pytest.raises(ValueError, match="ridge"):
        FreeShapSettings(ridge=-1.0)
    with pytest.raises(ValueError, match="patience"):
        FreeShapSettings(truncation=Truncation(patience=-1))
    with pytest.raises(TypeError, match="truncation must be a Truncation"):
        FreeShapSettings(truncation=True)
    with pytest.raises(ValueError, match="batch_size"):
        FreeShapSettings(batch_size=0)
    with pytest.raises(TypeError, match="settings must be a FreeShapSettings"):
        freeshap_values(K, Kx, y, m, 2, settings={"ridge": 1.0})
    with pytest.raises(ValueError, match="n_permutations"):
        freeshap_values(K, Kx, y, m, 0)
    with pytest.raises(ValueError, match="permutations"):
        freeshap_values(K, Kx, y, m, 0, permutations=np.zeros((2, n), dtype=int))
    with pytest.raises(ValueError, match="tolerance"):
        FreeShapSettings(truncation=Truncation(-1.0))
    with pytest.raises(ValueError, match="method"):
        FreeShapSettings(method="fast")
    with pytest.raises(ValueError, match="order"):
        krr_prefix_scores(K, Kx, y, m, np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="mean diagonal"):
        KernelRidgeUtility(np.zeros((n, n)), Kx, y, m)


def test_end_to_end_from_a_cnn():
    model = tiny_cnn(m=3)
    torch.manual_seed(6)
    x, xt = torch.randn(10, 1, 6, 6, dtype=torch.float64), torch.randn(4, 1, 6, 6, dtype=torch.float64)
    y, yt = np.arange(10) % 3, np.arange(4) % 3
    K, Kx = ntk_kernels(model, x, xt, device="cpu")
    vals = freeshap_values(K, Kx, y, 3, 20, settings=NO_TRUNCATION)
    u = KernelRidgeUtility(K, Kx, y, 3, y_test=yt)
    full, empty = np.ones((1, 10), dtype=bool), np.zeros((1, 10), dtype=bool)
    assert vals.shape == (10, 4, 3) and np.all(np.isfinite(vals))
    np.testing.assert_allclose(vals.sum(0), u(full)[0] - u(empty)[0], atol=1e-10)
    g = freeshap_values_global(K, Kx, y, yt, 3, 20, settings=NO_TRUNCATION)
    assert g.sum() == pytest.approx(u.accuracy(full)[0] - u.accuracy(empty)[0])


def test_progress_bar_leaves_the_values_unchanged(capfd):
    K, Kx = random_kernel(12, 3, 12, seed=5)
    y = np.arange(12) % 3
    quiet = freeshap_values(K, Kx, y, 3, 7, seed=1, settings=FreeShapSettings(batch_size=3))
    loud = freeshap_values(K, Kx, y, 3, 7, seed=1, settings=FreeShapSettings(batch_size=3, progress=True))
    assert np.array_equal(quiet, loud)
    err = capfd.readouterr().err
    assert "freeshap permutations" in err and "7.0/7" in err
