"""Explainers: the loss and its normalisation, the nets, training on utility tables of a known game
(FDS/AFDS/GFDS/GFDS+), inference, save/load and bad inputs."""

import numpy as np
import pytest
import torch

from fastdatashapley.games.coalitions import all_masks, expand_groups, gfds_masks, group_kernel_masks, kernel_masks
from fastdatashapley.data import POOL, TEST, VALIDATION
from fastdatashapley.explainers.loss import expand, fds_loss, group_penalty, normalise
from fastdatashapley.explainers.model import Explainer
from fastdatashapley.methods import METHODS
from fastdatashapley.methods.explainers import GROUP_PLAYERS
from fastdatashapley.explainers.training import ExplainerSettings, fit_explainer, untrained_message
from fastdatashapley.explainers.nets import NETS, ResNet50Explainer, build_net, net_config
from fastdatashapley.engine.utility_table import UtilityTable
from small_service import one_torch_thread, small_digits_service

N, M = 12, 3
GROUPS = [np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7]), np.array([8, 9, 10, 11])]  # by label (4 per class)
TINY = dict(net_options={"width": 8, "hidden": 64}, lr=3e-3, coalitions_per_x=16, seed=0, device="cpu", dataset="digits")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny nets on a shared 2-core machine: one intra-op thread is several times faster than two."""
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def game():
    """A real service model on 12 digits of classes 0-2, and an additive game whose values depend on x:

    phi_i(x)[y] = (f_D(x) - f_0(x))[y] * softmax_i(a_i * mean(x) + b_i), efficient by construction.
    Utility tables hold v(s) = f_0(x) + s^T phi(x) for any design.
    """
    ds, idx, service = small_digits_service(per_class=4)
    probes = ds.x[200:440]
    role = np.repeat([POOL, VALIDATION, TEST], [160, 40, 40])
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=N) * 8, rng.normal(size=N)

    def truth(x):
        logits = a[None] * x.reshape(len(x), -1).mean(1, keepdims=True) + b[None]
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        return w[:, :, None] * (service.proba(x) - service.null_proba(x)).astype(np.float64)[:, None, :]  # [B, n, m]

    phi = truth(probes)
    null, grand = service.null_proba(probes), service.proba(probes)

    def table_for(masks, **meta):
        util = null[None] + np.einsum("sn,pnm->spm", masks.astype(float), phi)
        return UtilityTable(masks, util, null, grand, np.arange(len(probes)), {"design": "test", **meta})

    return dict(x_train=ds.x[idx], y_train=ds.y[idx], service=service, probes=probes, role=role, truth=truth,
                table_for=table_for, test=probes[role == TEST], kernel=table_for(kernel_masks(N, 256, seed=1)))


def fit(game, table, method="fds", groups=None, **kw):
    settings = ExplainerSettings(**{**dict(max_epochs=40, patience=15, **TINY), **kw})
    return fit_explainer(table, game["probes"], game["role"], game["service"], game["x_train"], game["y_train"],
                         method=method, groups=groups, group_players=method in GROUP_PLAYERS, settings=settings)


def pearson(a, b):
    return np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]


def total_gain(game, x):
    s = game["service"]
    return s.proba(x).astype(np.float64) - s.null_proba(x).astype(np.float64)


# -- the loss ------------------------------------------------------------------------------------


def test_normalisation_is_exactly_efficient_and_ignores_uniform_shifts():
    gen = torch.Generator().manual_seed(0)
    phi = torch.randn(4, 7, 3, dtype=torch.float64, generator=gen)
    total = torch.randn(4, 3, dtype=torch.float64, generator=gen)
    out = normalise(phi, total)
    assert torch.allclose(out.sum(1), total, atol=1e-14, rtol=0)
    assert torch.allclose(normalise(phi + 5.0, total), out, atol=1e-13, rtol=0)
    assert torch.allclose(out - phi, ((total - phi.sum(1)) / 7).unsqueeze(1).expand_as(phi))


def test_loss_matches_its_definition_and_gradients_flow_through_normalisation():
    gen = torch.Generator().manual_seed(1)
    B, K, k, m = 3, 5, 6, 2
    phi = torch.randn(B, k, m, dtype=torch.float64, generator=gen, requires_grad=True)
    total = torch.randn(B, m, dtype=torch.float64, generator=gen)
    s = (torch.rand(B, K, k, generator=gen) < 0.5).double()
    gain = torch.randn(B, K, m, dtype=torch.float64, generator=gen)
    loss = fds_loss(phi, total, s, gain)
    p, t, sn, g = phi.detach().numpy(), total.numpy(), s.numpy(), gain.numpy()
    expected = np.mean([(g[b, j, y] - sum(sn[b, j, i] * (p[b, i, y] + (t[b, y] - p[b, :, y].sum()) / k) for i in range(k))) ** 2
                        for b in range(B) for j in range(K) for y in range(m)])
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    # the loss does not change when every phi of a sample and label moves by the same amount
    assert torch.allclose(phi.grad.sum(1), torch.zeros(B, m, dtype=torch.float64), atol=1e-14)


def test_loss_is_zero_at_the_shapley_values_of_an_additive_game():
    rng = np.random.default_rng(2)
    values = torch.from_numpy(rng.normal(size=(2, 8, 3)))
    s = torch.from_numpy(kernel_masks(8, 20, seed=0).astype(np.float64)).expand(2, 20, 8)
    gain = torch.einsum("bsk,bkm->bsm", s, values)
    assert fds_loss(values + 0.3, values.sum(1), s, gain).item() < 1e-28  # the shift is undone by normalisation
    assert fds_loss(values * 1.1, values.sum(1), s, gain).item() > 1e-4


def test_group_penalty_and_expand_match_their_definitions():
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(2, 5, 3))
    groups = [np.array([0, 3]), np.array([1, 2, 4])]
    expected = sum(np.mean([np.linalg.norm(phi[b, g, y] - phi[b, g, y].mean()) for b in range(2) for y in range(3)]) for g in groups)
    got = group_penalty(torch.from_numpy(phi), [torch.from_numpy(g) for g in groups])
    assert got.item() == pytest.approx(expected, rel=1e-12)
    flat = torch.from_numpy(np.repeat(phi[:, :1], 5, axis=1))  # equal within groups -> penalty 0
    assert group_penalty(flat, [torch.from_numpy(g) for g in groups]).item() == 0
    phi_g = torch.arange(6, dtype=torch.float64).view(1, 2, 3)
    out = expand(phi_g, groups, 5)
    assert torch.allclose(out[0, 3], phi_g[0, 0] / 2) and torch.allclose(out[0, 4], phi_g[0, 1] / 3)
    assert torch.allclose(out.sum(1), phi_g.sum(1))


# -- the nets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_small_nets_map_images_to_values(shape):
    for name in ("small_cnn", "small_unet"):
        net = build_net(net_config(name, shape, 7, 4, width=4, hidden=16))
        out = net(torch.rand(2, *shape))
        assert out.shape == (2, 7, 4)
        assert torch.count_nonzero(out) == 0  # zero-initialised head: the untrained explainer splits evenly
    assert set(NETS) == {"small_cnn", "small_unet", "resnet50"}
    with pytest.raises(ValueError, match="unknown explainer net"):
        net_config("vgg", (1, 8, 8), 3, 2)
    with pytest.raises(ValueError, match="unknown options"):
        net_config("small_cnn", (1, 8, 8), 3, 2, depth=3)


def test_resnet50_explainer_and_local_pretrained_weights(tmp_path):
    from torchvision.models import resnet50

    net = build_net(net_config("resnet50", (1, 8, 8), 5, 3)).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 1, 8, 8)).shape == (2, 5, 3)
    missing = tmp_path / "nowhere" / "resnet50.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        ResNet50Explainer(3, 5, 3, missing)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt"):
        ResNet50Explainer(3, 5, 3, tmp_path / "junk.pt")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a ResNet-50"):
        ResNet50Explainer(3, 5, 3, tmp_path / "other.pt")
    with torch.random.fork_rng():
        torch.manual_seed(5)
        ref = resnet50(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r50.pt")
    loaded = ResNet50Explainer(3, 5, 3, tmp_path / "r50.pt")
    assert torch.equal(loaded.net.layer3[0].conv2.weight, ref.layer3[0].conv2.weight)
    with torch.no_grad():
        assert loaded.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 5, 3)
    with pytest.raises(ValueError, match="only apply to the resnet50"):
        build_net(net_config("small_cnn", (1, 8, 8), 5, 3), tmp_path / "r50.pt")


# -- training and inference ----------------------------------------------------------------------


def test_fds_recovers_the_values_of_unseen_samples_and_round_trips(game, tmp_path):
    trainer = {"arch": "digits_cnn", "epochs": 5}
    explainer = fit(game, game["table_for"](kernel_masks(N, 256, seed=1), trainer=trainer))
    test = game["test"]
    est, truth = explainer.values(test), game["truth"](test)
    assert est.dtype == np.float64 and est.shape == (len(test), N, M)
    assert pearson(est, truth) > 0.95
    assert np.allclose(est.sum(1), total_gain(game, test), atol=1e-12, rtol=0)  # efficiency, exactly
    # early stopping bookkeeping: the restored weights are the best validation loss seen
    h = explainer.history
    assert 1 <= len(h) <= 40 and {"epoch", "train_loss", "val_loss", "lr", "seconds"} <= set(h[0])
    assert explainer.meta["best_val_loss"] <= min(r["val_loss"] for r in h)
    assert explainer.meta["best_val_loss"] < 0.5 * explainer.meta["untrained_val_loss"]  # it learned: no warning
    assert explainer.meta["trainer"] == trainer
    # one label per image
    labels = np.arange(len(test)) % M
    assert np.array_equal(explainer.values_for(test, labels), est[np.arange(len(test)), :, labels])
    pred = game["service"].proba(test).argmax(1)
    assert np.array_equal(explainer.values_for(test), est[np.arange(len(test)), :, pred])
    explainer.save(tmp_path / "e.pt")
    again = Explainer.load(tmp_path / "e.pt")
    assert np.array_equal(again.values(test), est)
    assert again.history == explainer.history and again.method == "fds" and again.dataset == "digits"
    assert np.array_equal(again.x_train, game["x_train"]) and np.array_equal(again.y_train, game["y_train"])


def test_training_is_seeded_and_deterministic(game):
    a = fit(game, game["kernel"], max_epochs=3)
    b = fit(game, game["kernel"], max_epochs=3)
    c = fit(game, game["kernel"], max_epochs=3, seed=1)
    x = game["test"][:8]
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert np.array_equal(a.values(x), b.values(x)) and strip(a.history) == strip(b.history)
    assert not np.array_equal(a.values(x), c.values(x))


def test_an_explainer_that_never_leaves_its_untrained_start_is_flagged(game):
    with pytest.warns(RuntimeWarning, match=r"explainer fds: after 2 epochs the best validation loss .* is not "
                                            r"0.1% below the untrained net's .*lower explainers.lr"):
        stuck = fit(game, game["kernel"], max_epochs=2, lr=1e-9)
    assert stuck.meta["best_val_loss"] >= 0.999 * stuck.meta["untrained_val_loss"]
    assert untrained_message("fds", 0.5, 1.0, 3) is None and untrained_message("fds", 0.9995, 1.0, 3) is not None


def test_gfds_trains_on_a_group_design(game):
    masks, _ = gfds_masks(GROUPS, N, 256, seed=2)
    explainer = fit(game, game["table_for"](masks), "gfds", groups=GROUPS)
    test = game["test"]
    assert pearson(explainer.values(test), game["truth"](test)) > 0.9
    assert explainer.variant is None and [g.tolist() for g in explainer.groups] == [g.tolist() for g in GROUPS]


def test_gfds_plus_split_values_groups_and_shares_them_evenly(game, tmp_path):
    proper = all_masks(3)[1:-1]  # the 6 proper group coalitions
    table = game["table_for"](expand_groups(GROUPS, proper, N))
    assert np.array_equal(np.unique(group_kernel_masks(GROUPS, N, 64, seed=0), axis=0), np.unique(table.masks, axis=0))
    explainer = fit(game, table, "gfds+", groups=GROUPS, variant="split")
    assert explainer.net_config["n_out"] == 3 and explainer.variant == "split"
    test = game["test"]
    v, truth = explainer.values(test), game["truth"](test)
    for g in GROUPS:
        assert np.array_equal(v[:, g], np.repeat(v[:, g[:1]], len(g), axis=1))
    group_est = np.stack([v[:, g].sum(1) for g in GROUPS], 1)
    group_true = np.stack([truth[:, g].sum(1) for g in GROUPS], 1)
    assert pearson(group_est, group_true) > 0.95
    assert np.allclose(v.sum(1), total_gain(game, test), atol=1e-12, rtol=0)
    explainer.save(tmp_path / "g.pt")
    assert np.array_equal(Explainer.load(tmp_path / "g.pt").values(test), v)


def test_gfds_plus_values_providers_as_players_of_a_closed_form_provider_game(game):
    """Three providers own interleaved points (point i belongs to provider i % 3). The game is played by providers:
    v(T) = f_0 + gain * u_x(T) / u_x(all), u_x(T) = sum_{j in T} a_j(x) + sum_{j<k in T} b_jk, whose Shapley values
    are gain * (a_j + b_j. / 2) / u_x(all) (checked by exact enumeration). GFDS+ on the provider groups recovers them,
    and ``provider_values`` sums each provider's points back to its value."""
    from games import pairwise

    from fastdatashapley.games.estimators.exact import exact
    from fastdatashapley.games.grouping import make_groups

    owner = np.arange(N) % 3
    groups = make_groups("provider", "pixels", game["x_train"], game["y_train"], 2, providers=owner)
    assert [g.tolist() for g in groups] == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]
    b = np.array([[0, 0.6, 0.2], [0.6, 0, 0.4], [0.2, 0.4, 0]])
    probes, service = game["probes"], game["service"]
    null, grand = service.null_proba(probes).astype(np.float64), service.proba(probes).astype(np.float64)
    a = np.exp(2.0 * np.eye(3)[grand.argmax(1)])  # provider j matters most where f_D predicts class j
    a /= a.sum(1, keepdims=True)  # [P, 3], moves with the image
    closed = np.stack([pairwise(row, b)[1] for row in a]) / (1 + b.sum() / 2)  # [P, 3]: u_x(all) = 1 + 1.2
    for p in (0, 7):
        assert np.allclose(exact(lambda t, p=p: pairwise(a[p], b)[0](t) / (1 + b.sum() / 2), 3), closed[p], atol=1e-12)
    proper = all_masks(3)[1:-1]  # the 6 proper provider coalitions (kernel weights are equal at 3 players)
    u = np.stack([pairwise(row, b)[0](proper) for row in a], 1) / (1 + b.sum() / 2)  # [6, P]
    util = null[None] + u[:, :, None] * (grand - null)[None]
    table = UtilityTable(expand_groups(groups, proper, N), util, null, grand, np.arange(len(probes)), {"design": "t"})
    explainer = fit(game, table, "gfds+", groups=groups, variant="split")
    explainer.meta["providers"] = {"names": ["p0", "p1", "p2"], "of_point": owner.tolist()}
    test = game["role"] == TEST
    labels = grand[test].argmax(1)
    got = explainer.provider_values(probes[test], labels)
    gain = (grand - null)[test, labels][:, None]
    shares, flat = got / gain, np.broadcast_to(closed[test].mean(0), (test.sum(), 3))
    # the shares move with the prediction; the learned ones follow them (a constant share fits far worse)
    assert got.shape == (test.sum(), 3) and pearson(shares, closed[test]) > 0.85 > 0.5 > pearson(flat, closed[test])
    assert np.abs(shares - closed[test]).mean() < 0.5 * np.abs(flat - closed[test]).mean()
    assert np.allclose(got.sum(1), gain[:, 0], atol=1e-12, rtol=0)  # efficiency over providers
    paid = explainer.pay(probes[test][0], 90.0, label=int(labels[0]))
    assert set(paid) == {"p0", "p1", "p2"} and np.isclose(sum(paid.values()), 90.0)


def test_gfds_plus_penalty_pulls_values_inside_a_group_together(game):
    def spread(e):
        v = e.values(game["test"])
        return np.mean([v[:, g].std(1).mean() for g in GROUPS])

    fits = [fit(game, game["kernel"], "gfds+", groups=GROUPS, variant="penalty", gamma=g, max_epochs=15)
            for g in (0.0, 1e-3, 1e-2)]
    assert fits[0].net_config["n_out"] == N and fits[2].meta["gamma"] == 1e-2
    for e in fits:  # each learned (no untrained-start warning), so the spreads compare trained nets
        assert e.meta["best_val_loss"] < 0.5 * e.meta["untrained_val_loss"]
    spreads = [spread(e) for e in fits]
    assert spreads[0] > spreads[1] > spreads[2] and spreads[2] < 0.75 * spreads[0], spreads
    # at gamma = 1 on this game the penalty outweighs the fit: the untrained uniform split is the best
    # validation loss, and the user is told
    with pytest.warns(RuntimeWarning, match="explainer gfds\\+: after 15 epochs"):
        tied = fit(game, game["kernel"], "gfds+", groups=GROUPS, variant="penalty", gamma=1.0, max_epochs=15)
    assert spread(tied) < 1e-12


# -- bad inputs ----------------------------------------------------------------------------------


def test_bad_inputs_give_clear_errors(game, tmp_path):
    explainer = fit(game, game["kernel"], max_epochs=1)
    with pytest.raises(ValueError, match=r"image shape \[1, 3, 8, 8\].*1 channel of 8x8"):
        explainer.values(np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="image shape"):
        explainer.values(np.zeros((2, 1, 28, 28)))
    with pytest.raises(ValueError, match="NaN"):
        explainer.values(np.full((1, 1, 8, 8), np.nan))
    with pytest.raises(ValueError, match="label 3 is out of range"):
        explainer.values_for(game["test"][:2], [0, 3])
    with pytest.raises(ValueError, match="dataset 'digits', not 'mnist'"):
        explainer.check_compatible("mnist", N)
    with pytest.raises(ValueError, match="n = 12"):
        explainer.check_compatible("digits", 100)
    with pytest.raises(ValueError, match="m = 3"):
        explainer.check_compatible(n_classes=10)
    explainer.check_compatible("digits", N, (1, 8, 8), M)


def test_bad_training_inputs(game):
    kernel = game["kernel"]
    with pytest.raises(KeyError, match="unknown method 'shap'"):
        METHODS.get("shap")  # explainer names come from the method registry only
    with pytest.raises(ValueError, match="variant"):
        fit(game, kernel, "gfds+", groups=GROUPS, variant="avg")
    with pytest.raises(ValueError, match="gfds\\+ values groups as players and needs groups"):
        fit(game, kernel, "gfds+")
    with pytest.raises(ValueError, match="not a group-coalition design"):
        fit(game, kernel, "gfds+", groups=GROUPS, variant="split")
    with pytest.raises(ValueError, match="partition"):
        fit(game, kernel, "gfds", groups=[np.arange(5)])
    with pytest.raises(ValueError, match="role"):
        fit_explainer(kernel, game["probes"], np.full(240, 7), game["service"], game["x_train"], game["y_train"], method="fds")
    with pytest.raises(ValueError, match="x_probe must have shape"):
        fit_explainer(kernel, game["probes"][:10], game["role"], game["service"], game["x_train"], game["y_train"], method="fds")
    with pytest.raises(ValueError, match="null utilities differ"):  # probes in another order than the table's
        fit_explainer(kernel, game["probes"][::-1], game["role"], game["service"], game["x_train"], game["y_train"], method="fds")
    with pytest.raises(ValueError, match="n = 12"):
        fit_explainer(kernel, game["probes"], game["role"], game["service"], game["x_train"][:5], game["y_train"][:5], method="fds")


def test_broken_explainer_files_are_named(game, tmp_path):
    explainer = fit(game, game["kernel"], max_epochs=1)
    with pytest.raises(ValueError, match="nothing.pt does not exist"):
        Explainer.load(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.pt"):
        Explainer.load(tmp_path / "junk.pt")
    explainer.save(tmp_path / "e.pt")
    blob = torch.load(tmp_path / "e.pt", weights_only=True)
    for key, value, message in [("format", 1, "format 1"), ("y_train", torch.full((N,), 9), "labels outside"),
                                ("groups", [torch.arange(5)], "partition")]:
        torch.save({**blob, key: value}, tmp_path / "bad.pt")
        with pytest.raises(ValueError, match=f"bad.pt is invalid: .*{message}"):
            Explainer.load(tmp_path / "bad.pt")


@pytest.mark.filterwarnings("ignore:explainer fds. after 1 epochs:RuntimeWarning")  # one epoch: shapes, not fit
def test_resnet50_explainer_trains_and_minibatches_never_hold_one_probe(game):
    from fastdatashapley.explainers.training import _minibatches

    assert [len(b) for b in _minibatches(np.arange(97), 32)] == [32, 32, 33]
    assert [len(b) for b in _minibatches(np.arange(96), 32)] == [32, 32, 32]
    assert [len(b) for b in _minibatches(np.arange(1), 32)] == [1]
    role = np.full(240, 2)
    role[:3], role[160:162] = 0, 1  # 3 pool probes in minibatches of 2 -> one batch of 3 (batch norm needs > 1)
    explainer = fit_explainer(game["kernel"], game["probes"], role, game["service"], game["x_train"], game["y_train"], method="fds",
                              settings=ExplainerSettings(net="resnet50", batch_size=2, max_epochs=1, lr=1e-3, device="cpu",
                                                         dataset="digits"))
    v = explainer.values(game["test"][:2])
    assert v.shape == (2, N, M) and np.allclose(v.sum(1), total_gain(game, game["test"][:2]), atol=1e-12, rtol=0)


# -- the table loss, the two-tower head, the output scale and the Banzhaf explainer ------------------


def test_table_loss_is_the_sampled_loss_over_every_row():
    """From the table's moments, the loss equals the mean over all rows; centred moments give the Banzhaf loss."""
    from fastdatashapley.explainers.loss import sampled_loss, table_loss, table_moments

    gen = torch.Generator().manual_seed(3)
    R, P, k, m = 40, 5, 6, 2
    s = (torch.rand(R, k, generator=gen) < 0.5).double()
    gain = torch.randn(P, R, m, dtype=torch.float64, generator=gen)
    values = torch.randn(P, k, m, dtype=torch.float64, generator=gen)
    a, b, c = table_moments(s, gain, chunk=2)
    every = sampled_loss(values, s.expand(P, R, k), gain)
    assert table_loss(values, a, b, c).item() == pytest.approx(every.item(), rel=1e-12)
    a, b, c = table_moments(s, gain, centre=True)
    sc, gc = s - s.mean(0), gain - gain.mean(1, keepdim=True)
    assert table_loss(values, a, b, c).item() == pytest.approx(sampled_loss(values, sc.expand(P, R, k), gc).item(),
                                                              rel=1e-12)


@pytest.mark.parametrize("options", [dict(loss="table"), dict(head="two_tower", rank=8, loss="table", per_point=True),
                                     dict(per_point=True)])
def test_new_losses_and_heads_recover_an_additive_games_values_efficiently(game, options, tmp_path):
    explainer = fit(game, game["kernel"], max_epochs=60, **options)
    values = explainer.values(game["test"])
    assert pearson(values, game["truth"](game["test"])) > 0.9
    np.testing.assert_allclose(values.sum(1), total_gain(game, game["test"]), atol=1e-9)  # efficiency holds
    explainer.save(tmp_path / "e.pt")
    again = Explainer.load(tmp_path / "e.pt")  # the head and the scale are in the file
    np.testing.assert_array_equal(again.values(game["test"]), values)


def test_two_tower_points_are_the_service_embeddings_and_labels(game):
    from fastdatashapley.explainers.fit_data import point_features

    explainer = fit(game, game["kernel"], head="two_tower", rank=4, max_epochs=2)
    feats = point_features(game["service"], game["x_train"], game["y_train"], M)
    assert torch.equal(explainer.net.head.points, feats) and feats.shape[0] == N
    assert explainer.net_config["options"]["rank"] == 4 and explainer.net_config["options"]["features"] == feats.shape[1]


def test_per_point_scale_lets_one_lr_serve_a_larger_n():
    """Outputs divided by n_out: a zero-initialised net still gives the uniform split, and the raw outputs are
    n_out times the values (so Adam's steps are per-point sized)."""
    cfg = net_config("small_cnn", (1, 8, 8), 500, 3, width=8, hidden=16, per_point=1)
    net = build_net(cfg)
    with torch.no_grad():
        net.head.fc2.bias.fill_(1.0)
        out = net(torch.zeros(2, 1, 8, 8))
    assert torch.allclose(out, torch.full((2, 500, 3), 1.0 / 500))


def test_banzhaf_explainer_recovers_an_additive_games_values_on_uniform_subsets(game, tmp_path):
    """On an additive game the Banzhaf value is the weight vector (as the Shapley value is); the explainer learns
    it from uniform subsets with the centred regression, and its values are not normalised."""
    from fastdatashapley.games.coalitions import alpha_subsets

    table = game["table_for"](alpha_subsets(N, 512, 0.5, seed=4))
    settings = ExplainerSettings(**{**dict(max_epochs=60, patience=15, **TINY)})
    explainer = fit_explainer(table, game["probes"], game["role"], game["service"], game["x_train"], game["y_train"],
                              method="fast_banzhaf", value="banzhaf", settings=settings)
    assert explainer.value == "banzhaf"
    values = explainer.values(game["test"])
    assert pearson(values, game["truth"](game["test"])) > 0.9
    explainer.save(tmp_path / "b.pt")
    assert Explainer.load(tmp_path / "b.pt").value == "banzhaf"
    with pytest.raises(ValueError, match="explainer value must be one of shapley, banzhaf"):
        fit_explainer(table, game["probes"], game["role"], game["service"], game["x_train"], game["y_train"],
                      method="x", value="owen", settings=settings)
