"""Explainers trained on utility tables of a known game; inference, save/load, groups and payouts; CLI."""

import json

import numpy as np
import pytest
import torch

from fastdatashapley.cli import main
from fastdatashapley.coalitions import group_kernel_masks, kernel_masks
from fastdatashapley.data import load_dataset
from fastdatashapley.explainer import Explainer, expand, fit_explainer, normalise
from fastdatashapley.grouping import make_groups
from fastdatashapley.payout import split_payment
from fastdatashapley.service import fit_service_model
from fastdatashapley.training import TrainerSpec
from fastdatashapley.utility_table import UtilityTable

N, M = 12, 3


@pytest.fixture(scope="module")
def game():
    """A real service model on 12 digits of classes 0-2, and an additive game whose values depend on x.

    phi_i(x)[y] = (f_D(x) - f_0(x))[y] * softmax_i(a_i * mean(x) + b_i): efficient by construction.
    """
    ds = load_dataset("digits", classes=[0, 1, 2])
    idx = np.concatenate([np.flatnonzero(ds.y == c)[:4] for c in range(3)])
    spec = TrainerSpec("digits_cnn", (1, 8, 8), 3, lr=0.01, epochs=5, batch_size=6)
    service = fit_service_model(spec, ds.x[idx], ds.y[idx], seed=0, device="cpu")
    probes = ds.x[200:440]
    role = np.repeat([0, 1, 2], [160, 40, 40])
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=N) * 8, rng.normal(size=N)

    def true_values(x):
        logits = a[None] * x.reshape(len(x), -1).mean(1, keepdims=True) + b[None]
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        return w[:, :, None] * (service.proba(x) - service.null_proba(x))[:, None, :]  # [B, n, m]

    phi = true_values(probes)
    null, grand = service.null_proba(probes), service.proba(probes)

    def table_for(masks):
        util = null[None] + np.einsum("sn,pnm->spm", masks.astype(float), phi)
        return UtilityTable(masks, util, null, grand, np.arange(len(probes)), {"design": "test"})

    return dict(ds=ds, idx=idx, service=service, probes=probes, role=role, truth=true_values, table_for=table_for)


def fit(game, table, method="fds", **kw):
    ds, idx = game["ds"], game["idx"]
    args = dict(method=method, max_epochs=60, patience=15, lr=3e-3, coalitions_per_x=16, seed=0, device="cpu", dataset="digits")
    return fit_explainer(table, game["probes"], game["role"], game["service"], ds.x[idx], ds.y[idx], **{**args, **kw})


def test_normalisation_is_exactly_efficient():
    phi = torch.randn(4, 7, 3, dtype=torch.float64)
    total = torch.randn(4, 3, dtype=torch.float64)
    assert torch.allclose(normalise(phi, total).sum(1), total)


def test_fds_recovers_the_values_of_unseen_samples(game, tmp_path):
    explainer = fit(game, game["table_for"](kernel_masks(N, 256, seed=1)))
    test = game["probes"][game["role"] == 2]
    est, truth = explainer.values(test), game["truth"](test)
    r = np.corrcoef(est.ravel(), truth.ravel())[0, 1]
    assert r > 0.9, r
    assert np.allclose(est.sum(1), game["service"].proba(test) - game["service"].null_proba(test))
    explainer.save(tmp_path / "e.pt")
    again = Explainer.load(tmp_path / "e.pt")
    assert np.array_equal(again.values(test), est)
    assert explainer.history[-1]["val_loss"] >= min(h["val_loss"] for h in explainer.history)


def test_gfds_plus_split_and_penalty(game):
    groups = make_groups("label", "pixels", game["ds"].x[game["idx"]], game["ds"].y[game["idx"]], 3)
    table = game["table_for"](group_kernel_masks(groups, N, 6, seed=0))
    split = fit(game, table, "gfds+", groups=groups, variant="split", max_epochs=10)
    test = game["probes"][game["role"] == 2][:5]
    v = split.values(test)
    for g in groups:  # every member of a group gets the same share
        assert np.allclose(v[:, g], v[:, g[:1]])
    penalty = fit(game, table, "gfds+", groups=groups, variant="penalty", gamma=1.0, max_epochs=10)
    assert penalty.values(test).shape == (5, N, M)
    phi = torch.arange(6, dtype=torch.float64).view(1, 2, 3)
    assert torch.allclose(expand(phi, [np.array([0, 2]), np.array([1])], 3)[0, 0], phi[0, 0] / 2)


def test_bad_inputs(game, tmp_path):
    explainer = fit(game, game["table_for"](kernel_masks(N, 64, seed=1)), max_epochs=2)
    with pytest.raises(ValueError, match="image shape"):
        explainer.values(np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        explainer.values(np.full((1, 1, 8, 8), np.nan))
    with pytest.raises(ValueError, match="dataset 'digits', not 'mnist'"):
        explainer.check_compatible("mnist", N)
    with pytest.raises(ValueError, match="n = 12"):
        explainer.check_compatible("digits", 100)
    with pytest.raises(ValueError, match="unknown explainer method"):
        fit(game, game["table_for"](kernel_masks(N, 16)), "shap")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.pt"):
        Explainer.load(tmp_path / "junk.pt")


def test_grouping_functions(game):
    ds, idx = game["ds"], game["idx"]
    by_label = make_groups("label", "pixels", ds.x[idx], ds.y[idx], 3)
    assert [sorted(ds.y[idx][g].tolist()) for g in by_label] == [[0] * 4, [1] * 4, [2] * 4]
    for kind in ("kmeans", "spectral"):
        for view in ("pixels", "outputs", "embeddings"):
            groups = make_groups(kind, view, ds.x[idx], ds.y[idx], 3, service=game["service"], seed=0)
            flat = np.sort(np.concatenate(groups))
            assert np.array_equal(flat, np.arange(N)) and all(len(g) for g in groups)
            assert [g.tolist() for g in groups] == [g.tolist() for g in make_groups(kind, view, ds.x[idx], ds.y[idx], 3, service=game["service"], seed=0)]
    with pytest.raises(ValueError, match="grouping.kind"):
        make_groups("tree", "pixels", ds.x[idx], ds.y[idx], 3)


def test_payment_policies():
    v = np.array([2.0, 1.0, -1.0])
    assert np.allclose(split_payment(v, 10.0, "keep"), [10, 5, -5])
    assert np.allclose(split_payment(v, 10.0, "clip"), [20 / 3, 10 / 3, 0])
    with pytest.raises(ValueError, match="sum to"):
        split_payment(np.array([-1.0, 0.5]), 1.0, "keep")
    with pytest.raises(ValueError, match="policy"):
        split_payment(v, 1.0, "drop")


def test_cli_explain(game, tmp_path, capsys):
    explainer = fit(game, game["table_for"](kernel_masks(N, 64, seed=1)), max_epochs=3)
    path = tmp_path / "e.pt"
    explainer.save(path)
    image = game["probes"][200]
    np.save(tmp_path / "x.npy", image)
    from PIL import Image

    Image.fromarray((image[0] * 255).astype(np.uint8)).save(tmp_path / "x.png")
    assert main(["explain", "--explainer", str(path), "--image", str(tmp_path / "x.npy"), "--top", "5", "--pay", "100", "--negative", "clip", "--json", "--grid", str(tmp_path / "g.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["top"]) == 5 and out["top"][0]["value"] >= out["top"][-1]["value"]
    assert sum(out["payments"]["shares"]) == pytest.approx(100)
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["explain", "--explainer", str(path), "--image", str(tmp_path / "x.png"), "--label", "1"]) == 0
    assert "label 1" in capsys.readouterr().out
    assert main(["explain", "--explainer", str(path), "--image", str(tmp_path / "x.npy"), "--label", "7"]) == 2
    assert "out of range" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", np.zeros((3, 8, 8)))
    assert main(["explain", "--explainer", str(path), "--image", str(tmp_path / "bad.npy")]) == 2
    assert "image shape" in capsys.readouterr().err
