"""Any torch model: registered service models, the generic torch.func engine path against the one-model reference
(train_single), the automatic choice of path, what the generic path refuses, and a plugin model end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_training import _data, _masks, _reference
from torch import nn

from fastdatashapley.base.registry import load_plugins
from fastdatashapley.engine import models
from fastdatashapley.engine.engine_utility import EngineUtility
from fastdatashapley.engine.retrainer import Retrainer
from fastdatashapley.engine.service import ServiceModel, fit_service_model
from fastdatashapley.engine.training import (
    TrainerSpec,
    check_generic,
    engine_path,
    init_state,
    predict_proba,
    train_models,
    train_single,
    train_submodels,
)
from fastdatashapley.games.estimators.exact import exact
from fastdatashapley.games.scorers import PER_SAMPLE, Scorer
from fastdatashapley.workflow.config_checks import ConfigError
from fastdatashapley.workflow.config_schema import complete_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "examples/residual_mlp.py"
#: Tolerance of the generic path against train_single (float32 rounding of batched products, a few epochs).
ATOL = 1e-5


class ResidualCNN(nn.Module):
    """conv 3x3 -> 6, GroupNorm, ReLU, a residual conv block, flatten, linear -> m."""

    def __init__(self, in_shape, n_classes):
        super().__init__()
        c, h, w = in_shape
        self.conv = nn.Conv2d(c, 6, 3, padding=1)
        self.norm = nn.GroupNorm(2, 6)
        self.block = nn.Conv2d(6, 6, 3, padding=1)
        self.head = nn.Linear(6 * h * w, n_classes)

    def forward(self, x):
        h = torch.relu(self.norm(self.conv(x)))
        h = h + torch.relu(self.block(h))
        return self.head(h.flatten(1))


def _layernorm_sequential(in_shape, n_classes):
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, n_classes))


def _plain_sequential(in_shape, n_classes):
    c, h, w = in_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 12), nn.ReLU(), nn.Linear(12, n_classes))


@pytest.fixture
def archs():
    """Register the test archs (and the example plugin's ``residual_mlp``); unregister them afterwards."""
    entries = {"residual_cnn": ResidualCNN, "ln_sequential": _layernorm_sequential, "plain_sequential": _plain_sequential}
    for name, build in entries.items():
        models.register(name, build)
    before = set(sys.modules)
    load_plugins([PLUGIN], base=ROOT)
    try:
        yield
    finally:
        for name in (*entries, "residual_mlp"):
            models.ARCHS.unregister(name)
        for name in set(sys.modules) - before:  # so that the plugin file registers again in the next test
            if name.startswith("fastdatashapley_plugin_"):
                del sys.modules[name]


GENERIC_CASES = [
    # arch, in_shape, optimizer, weight_decay, batch_size, utility
    ("residual_mlp", (1, 8, 8), "adam", 0.01, 4, "last"),
    ("residual_cnn", (2, 6, 6), "sgd", 0.0, 3, "last"),
    ("ln_sequential", (1, 8, 8), "adam", 0.0, 5, "mean"),
]


@pytest.mark.parametrize("arch,in_shape,optimizer,wd,batch,utility", GENERIC_CASES)
def test_generic_path_matches_train_single(archs, arch, in_shape, optimizer, wd, batch, utility):
    """Seven coalitions (empty, sizes 1, 2, 5, 9, 13 and full) in chunks of 3: each sub-model's softmax agrees with
    train_single's (same initial weights, data order, optimiser and epochs) to ATOL."""
    x, y, probes = _data(in_shape)
    spec = TrainerSpec(arch, in_shape, 3, lr=0.01, epochs=3, batch_size=batch, optimizer=optimizer, weight_decay=wd,
                       utility=utility)
    assert engine_path(spec) == "generic"
    init = init_state(spec, 0)
    masks = _masks()
    got = train_submodels(spec, init, x, y, masks, probes, seed=5, chunk_size=3)
    want = _reference(spec, init, x, y, masks, probes, seed=5)
    assert got.shape == (len(masks), len(probes), 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=0)
    null = predict_proba(spec, init, probes)
    np.testing.assert_array_equal(got[masks.sum(1) == 0], null[None])  # the empty coalition is the null model
    assert np.abs(got[masks.sum(1) > 0] - null).max() > 1e-3  # the others really trained


def test_generic_weights_match_train_single(archs):
    x, y, _ = _data((1, 8, 8))
    spec = TrainerSpec("residual_mlp", (1, 8, 8), 3, lr=0.01, epochs=2, batch_size=4, weight_decay=0.001)
    init = init_state(spec, 0)
    masks = _masks()
    states = train_models(spec, init, x, y, masks, seed=3)
    for mask, state in zip(masks, states):
        ref = train_single(spec, init, x, y, mask, seed=3)
        assert list(state) == list(ref)
        for k in ref:
            torch.testing.assert_close(state[k], ref[k], atol=ATOL, rtol=0)
    assert all(torch.equal(states[1][k], init[k]) for k in init)  # the empty coalition: the null weights, exactly
    assert not torch.equal(states[3]["norm.weight"], init["norm.weight"])  # LayerNorm's affine weights train too


def test_the_path_is_chosen_automatically_and_logged(archs, caplog):
    for arch, in_shape in [("digits_cnn", (1, 8, 8)), ("digits_mlp", (1, 8, 8)), ("paper_cnn", (1, 12, 12)),
                           ("plain_sequential", (1, 8, 8))]:
        assert engine_path(TrainerSpec(arch, in_shape, 3)) == "fused"
    for arch in ("residual_mlp", "residual_cnn", "ln_sequential"):
        assert engine_path(TrainerSpec(arch, (1, 8, 8), 3)) == "generic"
    x, y, probes = _data((1, 8, 8))
    spec = TrainerSpec("ln_sequential", (1, 8, 8), 3, epochs=1, batch_size=4)
    with caplog.at_level("INFO", logger="fastdatashapley.engine.training.paths"):
        train_submodels(spec, init_state(spec, 0), x, y, _masks()[:2], probes, seed=0)
    assert re.search(r"'ln_sequential' trains on the generic torch.func path \(layer 2 \(LayerNorm\) is not supported",
                     caplog.text)
    with pytest.raises(ValueError, match="'residual_mlp' cannot take the fused engine path: ResidualMLP is not a plain"):
        spec = TrainerSpec("residual_mlp", (1, 8, 8), 3, epochs=1)
        train_submodels(spec, init_state(spec, 0), x, y, _masks()[:2], probes, seed=0, engine_path="fused")
    with pytest.raises(ValueError, match="engine_path 'vmap' is unknown"):
        train_submodels(spec, init_state(spec, 0), x, y, _masks()[:2], probes, seed=0, engine_path="vmap")


@pytest.mark.parametrize("arch", ["digits_cnn", "plain_sequential"])
def test_generic_path_forced_on_a_fused_model_agrees_with_the_fused_path(archs, arch):
    """The same sub-models on both paths (the benchmark's fused-against-generic comparison)."""
    x, y, probes = _data((1, 8, 8))
    spec = TrainerSpec(arch, (1, 8, 8), 3, lr=0.01, epochs=3, batch_size=4)
    init, masks = init_state(spec, 0), _masks()
    fused = train_submodels(spec, init, x, y, masks, probes, seed=2, engine_path="fused")
    generic = train_submodels(spec, init, x, y, masks, probes, seed=2, engine_path="generic")
    np.testing.assert_allclose(generic, fused, atol=ATOL, rtol=0)
    assert np.array_equal(fused, train_submodels(spec, init, x, y, masks, probes, seed=2))  # auto = fused


class _Buffered(nn.Module):
    def __init__(self, in_shape, n_classes):
        super().__init__()
        self.lin = nn.Linear(int(np.prod(in_shape)), n_classes)
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x):
        return self.lin(x.flatten(1)) * self.scale


class _Tied(nn.Module):
    def __init__(self, in_shape, n_classes):
        super().__init__()
        d = int(np.prod(in_shape))
        self.a, self.b = nn.Linear(d, d), nn.Linear(d, n_classes)
        self.c = nn.Linear(d, d)
        self.c.weight = self.a.weight

    def forward(self, x):
        return self.b(self.c(self.a(x.flatten(1))))


class _Unused(nn.Module):
    def __init__(self, in_shape, n_classes):
        super().__init__()
        self.lin = nn.Linear(int(np.prod(in_shape)), n_classes)
        self.spare = nn.Linear(3, 3)

    def forward(self, x):
        return self.lin(x.flatten(1))


class _DataDependent(nn.Module):
    def __init__(self, in_shape, n_classes):
        super().__init__()
        self.lin = nn.Linear(int(np.prod(in_shape)), n_classes)

    def forward(self, x):
        h = self.lin(x.flatten(1))
        return h if h.sum().item() > 0 else -h  # .item() cannot run under vmap


def _frozen(in_shape, n_classes):
    net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(in_shape)), 5), nn.LayerNorm(5), nn.Linear(5, n_classes))
    net[1].weight.requires_grad_(False)
    return net


REFUSED = [
    (lambda s, m: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, m)),
     r"layer '2' \(BatchNorm1d\) normalises by minibatch statistics"),
    (lambda s, m: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8, track_running_stats=False),
                                nn.Linear(8, m)), r"layer '2' \(BatchNorm1d\) normalises by minibatch statistics"),
    (lambda s, m: nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(64, m)),
     r"layer '1' \(Dropout\) draws random numbers"),
    (lambda s, m: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.InstanceNorm1d(8, track_running_stats=True),
                                nn.Linear(8, m)), r"layer '2' \(InstanceNorm1d\) holds buffers \['running_mean'"),
    (_Buffered, r"the model \(_Buffered\) holds buffers \['scale'\]"),
    (_Tied, r"parameters \['c.weight'\] are tied"),
    (_frozen, r"parameters \['1.weight'\] have requires_grad=False"),
    (_Unused, r"parameters \['spare.weight', 'spare.bias'\] get no gradient"),
    (_DataDependent, r"cannot run under torch.func.vmap"),
    (lambda s, m: nn.Sequential(nn.Flatten(), nn.Linear(64, m + 1), nn.LayerNorm(m + 1)), r"not logits \[2, 3\]"),
]


@pytest.mark.parametrize("build,message", REFUSED)
def test_generic_path_refuses_what_it_cannot_train_naming_the_layer(build, message):
    models.register("refused", build)
    try:
        spec = TrainerSpec("refused", (1, 8, 8), 3, epochs=1, batch_size=4)
        with pytest.raises(ValueError, match=message):
            check_generic(spec.build(), spec.in_shape, spec.n_classes)
        x, y, probes = _data((1, 8, 8))
        with pytest.raises(ValueError, match=r"arch 'refused' cannot be trained by the batched engine: .*" + message):
            train_submodels(spec, init_state(spec, 0), x, y, _masks()[:2], probes, seed=0)
    finally:
        models.ARCHS.unregister("refused")


def test_a_plugin_model_end_to_end_through_the_engine_utility(archs, tmp_path):
    """The example plugin's residual_mlp: f_D through the engine, saved and loaded, then exact Shapley values of a
    6-point game whose utility retrains every coalition (EngineUtility over a Retrainer). Efficiency holds: the
    values sum to utility(all) - utility(none), which are f_D's and the null model's softmax."""
    x, y, x_test = _data((1, 8, 8), n=6, n_probes=4)
    spec = TrainerSpec("residual_mlp", (1, 8, 8), 3, lr=0.01, epochs=3, batch_size=2)
    service = fit_service_model(spec, x, y, seed=0, device="cpu")
    service.save(tmp_path / "service.pt")
    loaded = ServiceModel.load(tmp_path / "service.pt")
    np.testing.assert_array_equal(loaded.proba(x_test), service.proba(x_test))
    retrainer = Retrainer(spec, service.null_state, x, y, seed=0, device="cpu")
    utility = EngineUtility(retrainer, x_test, Scorer(PER_SAMPLE, np.zeros(len(x_test), np.int64)))
    values = exact(utility, 6)
    assert values.shape == (6, len(x_test), 3) and utility.retrained == 2**6 - 1
    np.testing.assert_allclose(retrainer.full(x_test), service.proba(x_test), atol=1e-6, rtol=0)
    np.testing.assert_allclose(values.sum(0), service.proba(x_test) - service.null_proba(x_test), atol=1e-5)
    assert np.abs(values).max() > 1e-3


def test_service_arch_config_key_takes_registered_names(archs):
    schema = complete_schema(yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text()))
    enum = schema["properties"]["service"]["properties"]["arch"]["enum"]
    assert enum[:3] == ["paper_cnn", "digits_cnn", "digits_mlp"] and "residual_mlp" in enum
    config = {"service": {"arch": "residual_mlp"}}
    validate_config(config, schema)
    assert config["service"]["arch"] == "residual_mlp"
    with pytest.raises(ConfigError, match="service.arch"):
        validate_config({"service": {"arch": "resnet"}}, schema)


def test_register_checks_its_arguments_and_build_its_result():
    with pytest.raises(ValueError, match="service-model arch 'digits_cnn' is registered already"):
        models.register("digits_cnn", _plain_sequential)
    with pytest.raises(ValueError, match="service-model arch name 'my net'"):
        models.register("my net", _plain_sequential)
    with pytest.raises(TypeError, match="build must be callable"):
        models.register("my_net", "not a function")
    models.register("not_a_module", lambda in_shape, m: "a string")
    try:
        with pytest.raises(TypeError, match="'not_a_module' built a str, not a torch nn.Module"):
            models.build_service_model("not_a_module", (1, 8, 8), 3)
    finally:
        models.ARCHS.unregister("not_a_module")
    with pytest.raises(ValueError, match=r"unknown service-model arch 'resnet' \(config key service.arch\)"):
        models.build_service_model("resnet", (1, 8, 8), 3)


def test_reading_the_arch_registry_does_not_import_torch():
    """The workflow completes its schema (service.arch from ARCHS) when it starts, without paying torch's import."""
    code = ("import sys, fastdatashapley.workflow.config_schema, fastdatashapley.engine.models as m; "
            "assert 'torch' not in sys.modules, 'torch was imported'; assert 'digits_cnn' in m.ARCHS")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_embeddings_of_a_model_that_is_not_a_sequential(archs):
    """The two-tower head's and the grouping's embeddings: the input of the last Linear layer, read by a hook."""
    from fastdatashapley.games.grouping import penultimate

    x, y = _data((1, 8, 8), n=12, m=3, seed=3)[:2]
    spec = TrainerSpec("residual_mlp", (1, 8, 8), 3, lr=0.01, epochs=2, batch_size=4)
    service = fit_service_model(spec, x, y, seed=0, device="cpu")
    net = spec.build()
    net.load_state_dict(service.state)
    net.eval()
    with torch.no_grad():
        h = torch.relu(net.inp(torch.from_numpy(x).flatten(1)))
        want = net.out_norm(h + net.hidden(torch.relu(net.norm(h)))).numpy()
    np.testing.assert_allclose(penultimate(service, x), want, atol=1e-6)
