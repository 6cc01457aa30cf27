"""Shapley estimators against closed-form games, exact enumeration and the axioms."""

import warnings

import numpy as np
import pytest
from games import additive, glove, majority, pairwise

from fastdatashapley.games import coalitions as C
from fastdatashapley import games as S


def rng(seed=0):
    return np.random.default_rng(seed)


def ends(u, n):
    v = u(np.array([np.zeros(n, bool), np.ones(n, bool)]))
    return v[1] - v[0]


def rel(est, truth):
    return float(np.linalg.norm(est - truth) / np.linalg.norm(truth))


# ------------------------------------------------------------------------------------ more closed-form games


def unanimity(n, carriers, coef):
    """v(S) = sum_T c_T [T ⊆ S] (Harsanyi dividends c_T on carriers T); phi_i = sum_{T ∋ i} c_T / |T|."""
    member = np.zeros((len(carriers), n))
    for r, t in enumerate(carriers):
        member[r, t] = 1
    coef = np.asarray(coef, float)
    phi = member.T @ (coef / member.sum(1))

    def utility(masks):
        return ((np.asarray(masks, float) @ member.T) == member.sum(1)).astype(float) @ coef

    return utility, phi


def random_unanimity(n, n_carriers, max_size, seed):
    g = rng(seed)
    carriers = [g.choice(n, size=k, replace=False) for k in g.integers(1, max_size + 1, size=n_carriers)]
    return unanimity(n, carriers, g.uniform(0.2, 1.0, size=n_carriers))


def airport(c):
    """v(S) = max_{i in S} c_i: with c sorted ascending, phi_(i) = sum_{k <= i} (c_(k) - c_(k-1)) / (n - k + 1)."""
    c = np.asarray(c, float)
    order = np.argsort(c)
    n = len(c)
    steps = np.diff(np.concatenate([[0.0], c[order]])) / (n - np.arange(n))
    phi = np.empty(n)
    phi[order] = np.cumsum(steps)
    return (lambda m: np.where(np.asarray(m, bool), c[None], 0.0).max(1)), phi


def shoes(pairs):
    """v(S) = min(#left, #right) with equally many left and right shoes: phi_i = 1/2 by symmetry and efficiency."""
    left = np.arange(2 * pairs) < pairs

    def utility(masks):
        m = np.asarray(masks, bool)
        return np.minimum(m[:, left].sum(1), m[:, ~left].sum(1)).astype(float)

    return utility, np.full(2 * pairs, 0.5)


def stacked(n=8):
    """Six closed-form games over n = 8 players as one utility with outputs [2, 3]."""
    games = [
        additive(rng().normal(size=n), offset=0.3),
        pairwise(rng(1).normal(size=n), rng(2).normal(size=(n, n))),
        majority(n, 5),
        glove(1, n - 1),
        airport(rng(3).uniform(size=n)),
        shoes(n // 2),
    ]

    def utility(masks):
        return np.stack([u(masks) for u, _ in games], axis=1).reshape(len(masks), 2, 3)

    return utility, np.stack([phi for _, phi in games], axis=1).reshape(n, 2, 3)


def nonlinear(n, seed=0):
    """Interactions of every order; exact enumeration is the truth."""
    a = rng(seed).normal(size=n)
    return lambda m: np.tanh(np.asarray(m, float) @ a / 2) + (np.asarray(m).sum(1) >= n // 2)


# ------------------------------------------------------------------------------------ exact


@pytest.mark.parametrize("game", ["additive", "pairwise", "majority", "glove", "airport", "shoes", "unanimity"])
def test_exact_matches_closed_forms(game):
    n = 8
    u, phi = {
        "additive": lambda: additive(rng().normal(size=n), offset=2.0),
        "pairwise": lambda: pairwise(rng().normal(size=n), rng(1).normal(size=(n, n))),
        "majority": lambda: majority(n, 4),
        "glove": lambda: glove(1, n - 1),
        "airport": lambda: airport(rng().uniform(size=n)),
        "shoes": lambda: shoes(n // 2),
        "unanimity": lambda: random_unanimity(n, 12, 5, seed=0),
    }[game]()
    assert np.allclose(S.exact(u, n, batch_size=16), phi, atol=1e-12)


def test_exact_multi_output_closed_forms_and_chunking():
    u, phi = stacked()
    est = S.exact(u, 8, batch_size=7)  # 256 masks in uneven chunks
    assert est.shape == (8, 2, 3) and est.dtype == np.float64
    assert np.allclose(est, phi, atol=1e-12)
    calls = []
    S.exact(lambda m: calls.append(len(m)) or u(m), 8, batch_size=50)
    assert max(calls) <= 50 and sum(calls) == 256


def test_axioms_on_exact_values():
    n = 6
    u1, _ = pairwise(rng().normal(size=n), rng(1).normal(size=(n, n)))
    u2 = nonlinear(n, seed=2)
    phi1, phi2 = S.exact(u1, n), S.exact(u2, n)
    assert phi2.sum() == pytest.approx(ends(u2, n))  # efficiency
    assert np.allclose(S.exact(lambda m: u1(m) + 3 * u2(m), n), phi1 + 3 * phi2)  # additivity (linearity)
    dummy = S.exact(lambda m: u2(np.concatenate([np.zeros((len(m), 1), bool), m[:, 1:]], 1)), n)
    assert dummy[0] == pytest.approx(0, abs=1e-12)  # player 0 never changes the value

    a = rng(3).normal(size=n)
    a[1] = a[0]

    def sym(m):  # players 0 and 1 are interchangeable, the rest is arbitrary
        m = np.asarray(m, float)
        return np.tanh(m @ a) + np.sin(m[:, 0] + m[:, 1] + 2.0 * m[:, 2:] @ a[2:]) * (m[:, 3] + 1)

    phis = S.exact(sym, n)
    assert phis[0] == pytest.approx(phis[1])  # symmetry
    swapped = S.exact(lambda m: sym(m[:, [2, 1, 0, 5, 4, 3]]), n)
    assert np.allclose(swapped, phis[[2, 1, 0, 5, 4, 3]])  # relabelling players relabels values


# ------------------------------------------------------------------------------------ every estimator


ESTIMATORS = {
    "exact": lambda u, n: S.exact(u, n),
    "kernel": lambda u, n: S.kernel(u, n, 64, seed=1),
    "kernel_unpaired": lambda u, n: S.kernel(u, n, 64, paired=False, seed=1),
    "tmc": lambda u, n: S.tmc(u, n, 20, seed=1, batch_permutations=7),
    "loo": lambda u, n: S.loo(u, n),
    "group_testing": lambda u, n: S.group_testing(u, n, 64, seed=1),
    "group_level": lambda u, n: S.group_level(u, [[0, 1, 2], [3, 4], [5, 6, 7]], 8, seed=1),
    "gfds_group": lambda u, n: S.gfds_group(u, [[0, 1, 2], [3, 4], [5, 6, 7]], 1, 16, seed=1),
    "gfds": lambda u, n: S.gfds(u, [[0, 1, 2], [3, 4], [5, 6, 7]]),
    "class_wise": lambda u, n: S.class_wise(lambda m, c: u(m), np.arange(n) % 2, 2, 3, seed=1),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_multi_output_equals_separate_calls_and_seeds_reproduce(name):
    n, est = 8, ESTIMATORS[name]
    u, _ = stacked(n)
    joint = est(u, n)
    assert joint.dtype == np.float64 and joint.shape[1:] == (2, 3)
    for i in range(2):
        for j in range(3):
            single = est(lambda m, i=i, j=j: u(m)[:, i, j], n)
            assert single.shape == joint.shape[:1]
            assert np.allclose(joint[:, i, j], single, atol=1e-8)
    assert np.array_equal(est(u, n), joint)  # same seed, same result


@pytest.mark.parametrize("name", ["kernel", "tmc", "group_testing", "group_level", "class_wise"])
def test_other_seeds_give_other_samples(name):
    n = 8
    u = nonlinear(n)
    calls = {
        "kernel": lambda s: S.kernel(u, n, 40, seed=s),
        "tmc": lambda s: S.tmc(u, n, 10, seed=s),
        "group_testing": lambda s: S.group_testing(u, n, 40, seed=s),
        "group_level": lambda s: S.group_level(u, [[0, 1], [2, 3], [4, 5], [6], [7]], 10, seed=s),
        "class_wise": lambda s: S.class_wise(lambda m, c: u(m), np.arange(n) % 2, 2, 2, seed=s),
    }[name]
    assert np.array_equal(calls(3), calls(3)) and not np.allclose(calls(3), calls(4))


def test_linear_estimators_are_additive_under_a_shared_seed():
    n = 8
    u1, u2 = nonlinear(n, 0), nonlinear(n, 1)
    both = lambda m: u1(m) - 2 * u2(m)  # noqa: E731
    for est in (
        lambda f: S.kernel(f, n, 50, seed=2),
        lambda f: S.tmc(f, n, 30, truncation=S.Truncation(0.0), seed=2),
        lambda f: S.group_testing(f, n, 50, seed=2, solver="closed_form"),
        lambda f: S.class_wise(lambda m, c: f(m), np.arange(n) % 3, 2, 2, seed=2),
    ):
        assert np.allclose(est(both), est(u1) - 2 * est(u2), atol=1e-9)


# ------------------------------------------------------------------------------------ KernelSHAP


def test_kernel_is_exact_on_pairwise_games_with_paired_sampling():
    """Paired KernelSHAP is exact for games with interactions of order <= 2 (any budget >= n)."""
    n = 9
    u, phi = pairwise(rng().normal(size=n), rng(1).normal(size=(n, n)))
    est, info = S.kernel(u, n, 60, seed=0, return_info=True)
    assert np.allclose(est, phi, atol=1e-9)
    assert np.allclose(info.std, 0, atol=1e-6) and info.paired
    u_add, w = additive(rng().normal(size=(n, 3)), offset=1.0)
    assert np.allclose(S.kernel(u_add, n, 40, paired=False, seed=0), w, atol=1e-9)


def test_kernel_efficiency_symmetry_and_dummy():
    n = 9
    u = nonlinear(n)
    est = S.kernel(u, n, 100, seed=0)
    assert est.sum() == pytest.approx(ends(u, n))  # the constraint holds exactly
    dummy = lambda m: u(np.concatenate([np.zeros((len(m), 1), bool), m[:, 1:]], 1))  # noqa: E731
    assert abs(S.kernel(dummy, n, 4000, seed=0)[0]) < 0.02
    sym, phi = majority(n, 5)
    assert np.allclose(S.kernel(sym, n, 20000, seed=0), phi, atol=0.03)  # measured 0.015


def test_kernel_converges_to_exact_and_reports_shrinking_uncertainty():
    n = 12
    u = nonlinear(n)
    truth = S.exact(u, n)
    errors, stds, conv = [], [], []
    for budget in (64, 512, 4096):
        est, info = S.kernel(u, n, budget, seed=3, return_info=True)
        errors.append(rel(est, truth))
        stds.append(info.std.max())
        conv.append(float(info.convergence))
        assert info.convergence.shape == () and info.n_samples == budget
    assert errors[2] < errors[0] and errors[2] < 0.05
    assert stds[2] < stds[1] < stds[0] and conv[2] < conv[0]
    # the convergence signal is max std / value range
    assert conv[2] == pytest.approx(stds[2] / (est.max() - est.min()))


@pytest.mark.parametrize("paired", [False, True])
def test_kernel_standard_errors_match_the_spread_over_seeds(paired):
    n = 8
    u = nonlinear(n)
    runs = [S.kernel(u, n, 128, paired=paired, seed=s, return_info=True) for s in range(300)]
    spread = np.std([r[0] for r in runs], axis=0)
    reported = np.mean([r[1].std for r in runs], axis=0)
    ratio = spread / reported
    assert 0.8 < ratio.min() and ratio.max() < 1.3, ratio  # measured 1.00..1.15


def test_kernel_from_samples_matches_kernel_and_reads_tables():
    n = 10
    u, _ = random_unanimity(n, 15, 4, seed=1)
    masks = C.kernel_masks(n, 300, seed=7)
    null, grand = u(np.zeros((1, n), bool))[0], u(np.ones((1, n), bool))[0]
    from_samples = S.kernel_from_samples(masks, u(masks), null, grand)
    assert np.allclose(from_samples, S.kernel(u, n, 300, seed=7))
    # float32 tables [S, P, m] broadcast
    table = np.stack([u(masks), 2 * u(masks)], 1)[:, :, None].astype(np.float32)
    est = S.kernel_from_samples(masks, table, np.array([[null], [2 * null]]), np.array([[grand], [2 * grand]]))
    assert est.shape == (n, 2, 1) and est.dtype == np.float64
    assert np.allclose(est[:, 1, 0], 2 * est[:, 0, 0], atol=1e-5)


# ------------------------------------------------------------------------------------ LOO


def test_loo_equals_definition():
    n = 5
    u, _ = stacked(n + 3)
    n = 8
    full = u(np.ones((1, n), bool))[0]
    expected = np.stack([full - u(~np.eye(n, dtype=bool)[i : i + 1])[0] for i in range(n)])
    assert np.allclose(S.loo(u, n), expected)
    a, _ = additive(rng().normal(size=n))
    assert np.allclose(S.loo(a, n), S.exact(a, n))  # LOO is Shapley on additive games


# ------------------------------------------------------------------------------------ TMC


def saturating(n, quota, late=0.0):
    """1 once |S| >= quota, plus ``late`` for player 0 (a small effect that truncation can miss)."""
    return lambda m: (np.asarray(m).sum(1) >= quota) + late * np.asarray(m, float)[:, 0]


@pytest.mark.parametrize("batch", [1, 7, 64])
def test_tmc_batched_equals_sequential_with_truncation_and_convergence_stop(batch):
    n = 14
    a = rng().normal(size=n)
    u = lambda m: saturating(n, 4, late=0.004)(m) + 0.01 * np.tanh(np.asarray(m, float) @ a)  # noqa: E731
    kw = dict(truncation=S.Truncation(0.05), stop=S.RelativeChange(0.2, window=20), seed=5, return_count=True)
    ref, (p_ref, e_ref) = S.tmc_sequential(u, n, 400, **kw)
    est, (p_est, e_est) = S.tmc(u, n, 400, batch_permutations=batch, batch_size=5, **kw)
    assert p_ref < 400  # the convergence stop fired
    assert e_ref < 2 + p_ref * (n - 1)  # truncation fired
    assert (p_est, e_est) == (p_ref, e_ref)
    assert np.allclose(est, ref, atol=1e-12)


@pytest.mark.parametrize("positions", [2, 5, 64])
def test_tmc_block_positions_walk_the_same_and_count_the_discarded_prefixes(positions):
    """L prefix positions per call: the same values and permutations as the sequential walk; the evaluations
    exceed its count only by prefixes past a truncation inside a block (at most L - 1 per permutation)."""
    n = 14
    a = rng().normal(size=n)
    calls = []

    def u(m):
        calls.append(len(m))
        return saturating(n, 4, late=0.004)(m) + 0.01 * np.tanh(np.asarray(m, float) @ a)

    kw = dict(truncation=S.Truncation(0.05), stop=S.RelativeChange(0.2, window=20), seed=5, return_count=True)
    ref, (p_ref, e_ref) = S.tmc_sequential(u, n, 400, **kw)
    calls.clear()
    est, (p_est, e_est) = S.tmc(u, n, 400, batch_permutations=7, block_positions=positions, **kw)
    assert p_est == p_ref and e_ref <= e_est <= e_ref + p_ref * (positions - 1)
    assert e_est == 2 + sum(calls[1:])  # every evaluated prefix is counted (calls[0]: v(0) and v(D))
    assert np.allclose(est, ref, atol=1e-12)
    if positions == 64:  # a block covers the whole walk of n - 1 evaluated positions: one call per batch
        assert len(calls) == 1 + -(-p_ref // 7)


def test_tmc_progress_bar_reaches_the_permutations_used(capfd):
    u, _ = additive(rng().normal(size=5))
    quiet = S.tmc(u, 5, 30, seed=0, batch_permutations=4)
    assert np.array_equal(S.tmc(u, 5, 30, seed=0, batch_permutations=4, progress=True), quiet)
    assert "30.0/30" in capfd.readouterr().err


def test_tmc_batched_equals_sequential_multi_output_with_score():
    n = 8
    u, _ = stacked(n)
    score = lambda v: v[:, 0, 0] + v[:, 1, 2]  # noqa: E731
    kw = dict(truncation=S.Truncation(0.05, score=score), seed=1, return_count=True)
    ref, count = S.tmc_sequential(u, n, 40, **kw)
    est, count2 = S.tmc(u, n, 40, batch_permutations=16, **kw)
    assert count == count2 and np.allclose(est, ref, atol=1e-12)


def test_tmc_truncation_follows_the_rule():
    """Saturation at |S| = 3: within tolerance from step 3 on, so a permutation stops after 3 + 5 steps."""
    n = 20
    u, phi = majority(n, 3)
    est, (perms, evals) = S.tmc(u, n, 50, seed=0, stop=S.RelativeChange(0.0), return_count=True)
    assert perms == 50 and evals == 2 + 50 * 8
    assert est.sum() == pytest.approx(1.0)  # the third player of each permutation gets the whole value
    _, (_, evals0) = S.tmc(u, n, 50, seed=0, truncation=S.Truncation(patience=0), stop=S.RelativeChange(0.0),
                           return_count=True)
    assert evals0 == 2 + 50 * 3


def test_tmc_remaining_marginals_are_zero_after_truncation():
    """v = [0 in S] + 0.001 |S|, patience 0: a permutation stops as soon as player 0 joins, so a player gets
    0.001 only when it comes before 0 (probability 1/2) and player 0 gets 1.001."""
    n = 4
    u = lambda m: np.asarray(m, float)[:, 0] + 0.001 * np.asarray(m).sum(1)  # noqa: E731
    est = S.tmc(u, n, 3000, truncation=S.Truncation(patience=0), stop=S.RelativeChange(0.0), seed=0)
    assert est[0] == pytest.approx(1.001)
    assert np.allclose(est[1:], 0.0005, atol=0.00005)
    full = S.tmc(u, n, 200, truncation=S.Truncation(0.0), seed=0)  # no truncation: exact on this additive game
    assert np.allclose(full, [1.001, 0.001, 0.001, 0.001])


def test_tmc_converges_and_is_efficient_without_truncation():
    n = 8
    u, _ = pairwise(rng().normal(size=n) + 1, rng(1).normal(size=(n, n)) * 0.3)
    truth = S.exact(u, n)
    errs = [rel(S.tmc(u, n, b, seed=2, truncation=None, stop=S.RelativeChange(0.0)), truth) for b in (20, 2000)]
    assert errs[1] < errs[0] and errs[1] < 0.05
    assert S.tmc(u, n, 37, seed=2, truncation=None).sum() == pytest.approx(ends(u, n))


def test_tmc_convergence_stop():
    n = 6
    u, w = additive(rng().normal(size=n))  # every permutation gives the same values: change 0
    _, (perms, _) = S.tmc(u, n, 10_000, truncation=None, return_count=True)
    assert perms == 200  # first checkpoint with a previous window
    _, (perms, _) = S.tmc(u, n, 10_000, truncation=None, stop=S.RelativeChange(0.0, window=1000), return_count=True)
    assert perms == 10_000


# ------------------------------------------------------------------------------------ group testing


def test_group_testing_lp_equals_closed_form_and_converges():
    n = 8
    u = nonlinear(n)
    truth = S.exact(u, n)
    lp = S.group_testing(u, n, 300, epsilon=1e-6, seed=4)
    assert np.allclose(lp, S.group_testing(u, n, 300, seed=4, solver="closed_form"), atol=1e-7)
    assert lp.sum() == pytest.approx(ends(u, n))
    errs = [rel(S.group_testing(u, n, b, seed=0, solver="closed_form"), truth) for b in (200, 50000)]
    assert errs[1] < errs[0] and errs[1] < 0.1


def test_group_testing_matches_the_paper_formula():
    """Re-derive Delta_ij = (Z/T) sum_t U_t (beta_ti - beta_tj) from the same seeded tests."""
    n, t = 6, 300
    u = nonlinear(n)
    g = np.random.default_rng(4)
    k = np.arange(1, n)
    z = 2 * np.sum(1 / k)
    sizes = g.choice(k, size=t, p=(1 / k + 1 / (n - k)) / z)
    tests = C.subsets_of_size(n, sizes, g)
    ut = u(tests)
    delta = z / t * np.array([[np.sum(ut * (tests[:, i] ^ 0) - ut * tests[:, j]) for j in range(n)] for i in range(n)])
    est = S.group_testing(u, n, t, epsilon=1e-9, seed=4)
    assert np.allclose(est[:, None] - est[None, :], delta, atol=1e-7)
    assert est.sum() == pytest.approx(ends(u, n))


def test_group_testing_lp_infeasible_falls_back_or_raises():
    """Inconsistent differences d01 = d12 = 1, d02 = 0: the smallest feasible epsilon is 2/3."""
    delta = np.zeros((3, 3))
    delta[0, 1] = delta[1, 2] = 1.0
    with pytest.warns(RuntimeWarning, match="infeasible at epsilon=0.1.*smallest feasible epsilon is 0.6667"):
        s, gap = S.group_testing_lp(delta, 3.0, epsilon=0.1)
    assert gap == pytest.approx(2 / 3) and s.sum() == pytest.approx(3.0)
    d = s[:, None] - s[None, :]
    assert max(abs(d[0, 1] - 1), abs(d[1, 2] - 1), abs(d[0, 2])) == pytest.approx(2 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S.group_testing_lp(delta, 3.0, epsilon=0.7)  # feasible: no warning
    with pytest.raises(ValueError, match="infeasible"):
        S.group_testing_lp(delta, 3.0, epsilon=0.1, on_infeasible="raise")


def test_group_testing_sizes_are_the_kernel_law():
    q, z = S.group_testing_sizes(10)
    assert q.sum() == pytest.approx(1) and z == pytest.approx(2 * sum(1 / k for k in range(1, 10)))
    assert np.allclose(q, C.kernel_size_pmf(10))


# ------------------------------------------------------------------------------------ groups


def test_group_level_closed_forms():
    n = 6
    w = rng().normal(size=n)
    u, _ = additive(w)
    groups = [[0, 1], [2, 3, 4], [5]]
    g = S.group_level(u, groups)
    for grp in groups:
        assert np.allclose(g[grp], w[grp].sum() / len(grp))
    assert np.allclose(S.group_level(u, groups, n_samples=40, seed=0), g, atol=1e-9)
    # pairwise game: the group game is pairwise too, phi_G = a_G + 1/2 sum_H b_GH
    a, b = rng(1).normal(size=n), rng(2).normal(size=(n, n))
    up, _ = pairwise(a, b)
    bs = (b + b.T) / 2
    np.fill_diagonal(bs, 0)
    owner = np.array([0, 0, 1, 1, 1, 2])
    onehot = np.eye(3)[owner]
    a_g = onehot.T @ a + 0.5 * np.einsum("ig,ij,jg->g", onehot, bs, onehot)
    b_g = onehot.T @ bs @ onehot
    np.fill_diagonal(b_g, 0)
    phi_g = a_g + 0.5 * b_g.sum(1)
    assert np.allclose(S.group_level(up, groups), (phi_g / [2, 3, 1])[owner])
    assert S.group_level(up, groups).sum() == pytest.approx(ends(up, n))


def test_group_level_sampled_converges_to_exact():
    n = 24
    u, _ = random_unanimity(n, 40, 4, seed=3)
    groups = [list(range(3 * j, 3 * j + 3)) for j in range(8)]
    truth = S.group_level(u, groups)
    errs = [rel(S.group_level(u, groups, b, seed=1), truth) for b in (16, 4000)]
    assert errs[1] < errs[0] and errs[1] < 0.05


def test_gfds_is_exact_on_pairwise_games():
    """Players = members of G_j + other groups whole; for pairwise games that game is pairwise with the
    summed interactions, so GFDS returns the exact Shapley values."""
    n = 7
    u, phi = pairwise(rng().normal(size=n), rng(1).normal(size=(n, n)))
    groups = [[0, 4], [1, 2, 3], [5, 6]]
    assert np.allclose(S.gfds_group(u, groups, 1), phi[[1, 2, 3]])
    assert np.allclose(S.gfds(u, groups), phi)
    assert np.allclose(S.gfds(u, groups, n_samples=60), phi, atol=1e-9)  # paired kernel is exact here too


def test_gfds_sampled_converges_to_exact_gfds():
    n = 12
    u = nonlinear(n)
    groups = [list(range(4 * j, 4 * j + 4)) for j in range(3)]
    truth = S.gfds(u, groups)
    errs = [rel(S.gfds(u, groups, b, seed=0), truth) for b in (8, 4000)]
    assert errs[1] < errs[0] and errs[1] < 0.05


# ------------------------------------------------------------------------------------ CS-Shapley


def test_class_wise_receives_the_class_and_is_exact_on_additive_games():
    labels = np.array([0, 0, 1, 1, 1, 2])
    w = rng().normal(size=(3, 6))  # a different additive game per valued class
    seen = []

    def u(masks, c):
        seen.append(c)
        return masks @ w[c]

    values = S.class_wise(u, labels, n_contexts=3, n_permutations=4, seed=0)
    assert sorted(set(seen)) == [0, 1, 2] and all(isinstance(c, int) for c in seen)
    assert np.allclose(values, w[labels, np.arange(6)])


def test_class_wise_masks_keep_context_fixed_along_each_permutation():
    labels = np.array([0, 1, 0, 1, 0, 1])
    rows = []
    S.class_wise(lambda m, c: rows.append((m.copy(), c)) or np.zeros(len(m)), labels, 2, 3, seed=0, batch_size=4)
    for c in (0, 1):
        masks = np.concatenate([m for m, cc in rows if cc == c]).reshape(6, 4, 6)  # [contexts * perms, 4 prefixes, n]
        inside, outside = masks[:, :, labels == c], masks[:, :, labels != c]
        assert (inside.sum(2) == np.arange(4)).all()  # prefixes of an in-class permutation
        assert (outside == outside[:, :1]).all()  # one context per permutation


def test_class_wise_converges_to_shapley_on_pairwise_games():
    """Marginal of i given S_in + S_out is a_i + sum_{j in S} b_ij; averaging over a uniform context and in-class
    permutations gives a_i + 1/2 sum_j b_ij, the Shapley value."""
    n = 6
    u, phi = pairwise(rng().normal(size=n), rng(1).normal(size=(n, n)))
    labels = np.array([0, 1, 0, 1, 0, 1])
    est = S.class_wise(lambda m, c: u(m), labels, n_contexts=400, n_permutations=20, seed=0)
    assert np.abs(est - phi).max() < 0.05


# ------------------------------------------------------------------------------------ n = 100


def test_n100_closed_forms_within_tolerance():
    """n = 100 unanimity game (dividends on random carriers of 1..4 players, closed form) and pairwise game."""
    n = 100
    u, phi = random_unanimity(n, 150, 4, seed=0)
    no_stop = S.RelativeChange(0.0)
    for name, est, tol in (
        ("kernel", S.kernel(u, n, 32000, seed=0), 0.12),  # measured 0.069
        ("tmc", S.tmc(u, n, 320, truncation=None, stop=no_stop, batch_permutations=320, seed=0), 0.08),  # 0.040
        ("group_testing", S.group_testing(u, n, 32000, seed=0), 1.0),  # 0.63: group testing is noisy
    ):
        assert rel(est, phi) < tol, f"{name}: relative error {rel(est, phi):.3f}"
        assert est.sum() == pytest.approx(phi.sum(), abs=1e-6)
    up, phip = pairwise(rng(1).normal(size=n), rng(2).normal(size=(n, n)))
    assert np.allclose(S.kernel(up, n, 400, seed=0), phip, atol=1e-8)


# ------------------------------------------------------------------------------------ bad input


def test_bad_inputs_name_the_problem():
    u, _ = additive(np.ones(4))
    for call in (lambda: S.exact(u, 1), lambda: S.kernel(u, 1, 10), lambda: S.tmc(u, 1, 5), lambda: S.loo(u, 0),
                 lambda: S.group_testing(u, 1, 10)):
        with pytest.raises(ValueError, match="n must be an integer >= 2"):
            call()
    with pytest.raises(ValueError, match="utility returned shape \\[3\\] for 2 masks"):
        S.kernel(lambda m: np.ones(len(m) + 1), 4, 4)
    with pytest.raises(ValueError, match="utility returned shape \\[\\]"):
        S.loo(lambda m: 1.0, 4)
    with pytest.raises(ValueError, match="NaN or Inf"):
        S.kernel(lambda m: np.full(len(m), np.nan), 4, 10)
    with pytest.raises(ValueError, match="NaN or Inf"):
        S.exact(lambda m: np.where(np.asarray(m).sum(1) == 3, np.inf, 0.0), 4)
    with pytest.raises(ValueError, match="changed its output shape"):
        S.tmc(lambda m: np.ones((len(m), 2 if np.asarray(m).all(1).any() else 3)), 4, 5)
    with pytest.raises(ValueError, match="n_samples >= n = 4"):
        S.kernel(u, 4, 2)
    with pytest.raises(ValueError, match="at least n = 4 coalitions"):
        S.kernel_from_samples(C.kernel_masks(4, 2), np.ones(2), 0.0, 1.0)
    with pytest.raises(ValueError, match="empty or full"):
        S.kernel_from_samples(C.all_masks(4), np.ones(16), 0.0, 1.0)
    with pytest.raises(ValueError, match="null has shape"):
        S.kernel_from_samples(C.kernel_masks(4, 8), np.ones((8, 2)), np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="n_samples >= 2"):
        S.group_testing(u, 4, 1)
    with pytest.raises(ValueError, match="epsilon must be >= 0"):
        S.group_testing(u, 4, 50, epsilon=-1.0)
    with pytest.raises(ValueError, match="solver"):
        S.group_testing(u, 4, 50, solver="simplex")
    with pytest.raises(ValueError, match="n_permutations must be an integer >= 1"):
        S.tmc(u, 4, 0)
    with pytest.raises(ValueError, match="tolerance"):
        S.Truncation(-0.1)
    with pytest.raises(ValueError, match="score returned shape"):
        S.tmc(u, 4, 5, truncation=S.Truncation(score=lambda v: v[:1]))
    for make, match in ((lambda: S.Truncation(patience=-1), "patience"), (lambda: S.RelativeChange(-0.1), "convergence"),
                        (lambda: S.RelativeChange(window=0), "window")):
        with pytest.raises(ValueError, match=match):
            make()
    with pytest.raises(TypeError, match="stop must be a StopRule"):
        S.tmc_sequential(u, 4, 5, stop=dict(patience=1))
    with pytest.raises(ValueError, match="partition range\\(4\\): missing \\[\\], repeated \\[1\\]"):
        S.group_level(u, [[0, 1], [1, 2, 3]])
    with pytest.raises(ValueError, match="at least 2 groups"):
        S.group_level(u, [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match="at least n = 2|n_samples >= n = 2"):
        S.group_level(u, [[0, 1], [2, 3]], n_samples=1)
    with pytest.raises(ValueError, match="group index"):
        S.gfds_group(u, [[0, 1], [2, 3]], 2)
    with pytest.raises(ValueError, match="n_contexts"):
        S.class_wise(lambda m, c: u(m), np.array([0, 0, 1, 1]), 0, 3)
    with pytest.raises(ValueError, match="len\\(labels\\)"):
        S.class_wise(lambda m, c: u(m), np.array([0]), 1, 1)


# ------------------------------------------------------------------------------------ stop rules and results


def test_stop_rules_combine_with_or_and_and():
    """``|`` stops at the first rule that fires, ``&`` when both do; batches end where either must be asked."""
    n = 6
    u, _ = additive(rng().normal(size=n))  # every permutation gives the same values: the change is 0
    either = S.MaxPermutations(30) | S.RelativeChange(0.01, window=20)
    _, (perms, _) = S.tmc(u, n, 10_000, truncation=None, stop=either, return_count=True)
    assert perms == 30  # the count fires first (the change could fire only at 40)
    assert either.next_check(0) == 20 and either.next_check(20) == 30
    both = S.MaxPermutations(30) & S.RelativeChange(0.01, window=20)
    _, (perms, _) = S.tmc(u, n, 10_000, truncation=None, stop=both, return_count=True)
    assert perms == 40  # 30 permutations are not enough alone: the change is checked at 40, and it is 0
    fresh = S.RelativeChange(0.01, window=20)
    assert not fresh(np.ones((n, 1)), 20) and fresh(np.ones((n, 1)) * 2, 40)  # the first check has nothing to compare


def test_walk_driver_batches_end_at_stop_checks():
    from fastdatashapley.games.walk import walk

    sizes = []

    def draw(b):
        sizes.append(b)
        return np.tile(np.arange(4), (b, 1))

    total = np.zeros((4, 1))
    done = walk(draw, lambda o: ((lambda rows, j: np.full((len(rows), 1), j + 1.0)), np.zeros((len(o), 1))), total,
                S.MaxPermutations(25) | S.RelativeChange(0.0, window=10), batch=7)
    assert done == 25 and sizes == [7, 3, 7, 3, 5]
    assert np.array_equal(total[:, 0], [25, 25, 25, 25])  # each position adds 1 (j + 1 - j) per permutation


def test_valuation_result_takes_a_plugins_tuple_and_keeps_its_counts(tmp_path):
    from fastdatashapley.base.io import load_npz, load_values

    r = S.ValuationResult.of((np.zeros(5), 3))
    assert r.retrained == 3 and r.values.dtype == np.float64 and r.meta(method="x") == {"method": "x", "retrained": 3}
    with pytest.raises(TypeError, match="ValuationResult or \\(values, retrained\\)"):
        S.ValuationResult.of(np.zeros(5))
    with pytest.raises(ValueError, match="std has shape"):
        S.ValuationResult(np.zeros((5, 2, 3)), std=np.zeros(5))
    full = S.ValuationResult(np.ones((5, 2, 3)), 7, std=np.full((5, 2, 3), 0.5), counts={"permutations": 4})
    full.save(tmp_path / "v.npz", method="tmc", scope="per_sample")
    values, meta = load_values(tmp_path / "v.npz", n=5, n_test=2, n_classes=3)
    assert np.array_equal(values, full.values) and meta["counts"] == {"permutations": 4} and meta["retrained"] == 7
    assert np.array_equal(load_npz(tmp_path / "v.npz")["std"], full.std)


def test_scorer_is_chosen_once_from_the_scope():
    from fastdatashapley.games.scorers import Scorer, accuracy, correct

    out = np.array([[[0.7, 0.3], [0.5, 0.5], [0.2, 0.8]]])  # [k = 1, T = 3, m = 2]; the second sample ties
    labels = np.array([0, 1, 0])
    assert np.array_equal(correct(out, labels), [[1.0, 0.5, 0.0]])
    assert accuracy(out, labels) == pytest.approx([0.5])
    assert np.array_equal(Scorer("per_sample", labels)(out), out) and Scorer("global", labels)(out) == pytest.approx([0.5])
    with pytest.raises(ValueError, match="scope 'local'"):
        Scorer("local", labels)


# ------------------------------------------------------------------------------------ Data Banzhaf and datamodels


def exact_banzhaf(utility, n):
    """Banzhaf values by enumeration: beta_i = 2^-(n-1) sum_{S not containing i} (v(S + i) - v(S))."""
    masks = C.all_masks(n)
    v = utility(masks)
    beta = np.zeros((n, *np.shape(v)[1:]))
    for i in range(n):
        without = ~masks[:, i]
        beta[i] = (v[masks[:, i]].sum(0) - v[without].sum(0)) / 2 ** (n - 1)
    return beta


def test_banzhaf_closed_forms_and_enumeration():
    from fastdatashapley.games.estimators.banzhaf import datamodel_from_samples, msr_from_samples

    n = 7
    # unanimity game on T = {0, 1, 2}: beta_i = 2^-(|T| - 1) for i in T, 0 otherwise
    u, _ = unanimity(n, [[0, 1, 2]], [1.0])
    masks = C.all_masks(n)
    want = np.array([0.25] * 3 + [0.0] * 4)
    np.testing.assert_allclose(exact_banzhaf(u, n), want, atol=1e-15)
    # MSR over every subset once is the exact value; so is the (unregularised) datamodel of all subsets
    np.testing.assert_allclose(msr_from_samples(masks, u(masks)), want, atol=1e-12)
    np.testing.assert_allclose(datamodel_from_samples(masks, u(masks), ridge=0.0), want, atol=1e-12)
    # additive game: beta = w, for every output
    w = rng(5).normal(size=(n, 2, 3))
    ua, _ = additive(w, offset=0.3)
    np.testing.assert_allclose(msr_from_samples(masks, ua(masks)), w, atol=1e-12)
    np.testing.assert_allclose(datamodel_from_samples(masks, ua(masks), ridge=0.0), w, atol=1e-10)
    # a non-additive game, by enumeration
    up, _ = pairwise(rng(6).normal(size=n), rng(7).normal(size=(n, n)))
    np.testing.assert_allclose(msr_from_samples(masks, up(masks)), exact_banzhaf(up, n), atol=1e-12)


def test_banzhaf_msr_converges_from_uniform_subsets_and_is_seeded():
    from fastdatashapley.games.estimators.banzhaf import banzhaf

    n = 10
    u, _ = pairwise(rng(8).normal(size=n), rng(9).normal(size=(n, n)) * 0.3)
    truth = exact_banzhaf(u, n)
    errs = [rel(banzhaf(u, n, k, seed=1), truth) for k in (100, 20000)]
    assert errs[1] < errs[0] / 4 and errs[1] < 0.05, errs
    assert np.array_equal(banzhaf(u, n, 64, seed=2), banzhaf(u, n, 64, seed=2))


def test_banzhaf_inputs_are_checked():
    from fastdatashapley.games.estimators.banzhaf import datamodel_from_samples, msr_from_samples

    with pytest.raises(ValueError, match="player 0 is in every row or in none"):
        msr_from_samples(np.ones((4, 3), bool), np.zeros(4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        msr_from_samples(C.alpha_subsets(3, 8, seed=0), np.full(8, np.nan))
    with pytest.raises(ValueError, match="ridge"):
        datamodel_from_samples(C.alpha_subsets(3, 8, seed=0), np.zeros(8), ridge=-1.0)
