"""The registries (methods, designs, datasets), the plugin loader and the config schema built from them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from fastdatashapley.games import coalitions as C
from fastdatashapley.workflow.config_checks import ConfigError
from fastdatashapley.workflow.config_schema import complete_schema, validate_config
from fastdatashapley.data import DATASETS, load_dataset
from fastdatashapley.games.designs import DESIGNS, Design, design_options, design_size, sample, seed_stream
from fastdatashapley.games.coalitions import alpha_subsets
from fastdatashapley.methods import BASELINE, EXPLAINER, METHODS, Method, of_kind
from fastdatashapley.base.registry import Registry, load_plugins, wildcard_pattern

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())


class Entry:
    def __init__(self, name):
        self.name = name


def test_registry_keeps_order_and_rejects_bad_or_taken_names():
    reg = Registry("thing")
    for name in ("b", "a", "c+"):
        reg.register(Entry(name))
    assert reg.names() == ("b", "a", "c+") and "a" in reg and len(reg) == 3
    with pytest.raises(ValueError, match="thing 'a' is registered already"):
        reg.register(Entry("a"))
    for bad in ("", "1x", "a/b", "a b", None):
        with pytest.raises(ValueError, match="thing name"):
            reg.register(Entry(bad))
    with pytest.raises(KeyError, match="unknown thing 'z'; registered: b, a, c\\+"):
        reg.get("z")
    reg.unregister("a")
    assert reg.names() == ("b", "c+")


def test_wildcard_pattern_matches_exactly_the_names():
    names = ["gfds", "gfds+", "group_testing"]
    rx = re.compile(f"^(?:{wildcard_pattern(names)})$")
    assert all(rx.match(n) for n in names)
    assert not rx.match("gfdsx") and not rx.match("gfds++") and not rx.match("")


def test_builtin_registries_hold_the_paper_in_report_order():
    assert METHODS.names() == ("fds", "fds_paper", "afds", "gfds", "gfds+", "fast_banzhaf", "loo", "tmc",
                               "group_testing", "cs_shapley", "freeshap", "random", "banzhaf", "datamodel")
    assert [m.design for m in of_kind(EXPLAINER)] == ["kernel", "kernel", "kernel", "gfds", "gfds_plus", "banzhaf"]
    assert METHODS.get("fds_paper").fixed == {"loss": "sampled", "head": "free", "per_point": False}
    assert METHODS.get("fast_banzhaf").fixed == {"head": "free"}  # the free head fits each point (docs/scale.md)
    assert METHODS.get("loo").design == "loo" and METHODS.get("tmc").design is None
    assert DESIGNS.names() == ("kernel", "gfds", "gfds_plus", "exact", "loo", "lds", "lds_retest", "banzhaf",
                               "datamodel")
    assert DATASETS.names() == ("digits", "mnist", "fashion-mnist", "cifar10", "image_folder", "npz", "table",
                                "breast_cancer", "wine")
    assert sum(DATASETS.get("digits").train_counts) == 1797


def test_method_entries_are_validated():
    with pytest.raises(ValueError, match="kind"):
        Method("x", "estimator", lambda ctx: None)
    with pytest.raises(ValueError, match="scopes"):
        Method("x", BASELINE, lambda ctx: None, scopes=("local",))
    with pytest.raises(ValueError, match="must value per sample"):
        Method("x", EXPLAINER, lambda ctx: None)


def test_designs_sample_from_their_own_seed_stream():
    masks, owner = sample("kernel", 12, 64, seed=3)
    assert np.array_equal(masks, C.kernel_masks(12, 64, paired=True, seed=seed_stream(3, "kernel")))
    assert owner.shape == (0,)
    other, _ = sample("kernel", 12, 64, seed=3, stream="kmeans-pixels")
    assert not np.array_equal(masks, other)
    assert design_size("exact", 5, {}) == 32 and design_size("loo", 5, {}) == 6
    assert design_size("kernel", 5, {"coalitions": {"kernel": 99}}) == 99
    with pytest.raises(ValueError, match="needs groups"):
        sample("gfds_plus", 12, 8, seed=0)
    groups = [np.arange(0, 6), np.arange(6, 12)]
    g, _ = sample("gfds_plus", 12, 8, seed=0, groups=groups)
    assert (g[:, :6] == g[:, [0]]).all() and (g[:, 6:] == g[:, [6]]).all()


def test_the_lds_design_is_set_by_evaluation_lds_and_draws_the_held_out_stream():
    config = {"evaluation": {"lds": {"subsets": 40, "alpha": 0.3}}}
    assert design_size("lds", 30, config) == 40 and design_options("lds", config) == {"alpha": 0.3}
    masks, owner = sample("lds", 30, 40, seed=2, options=design_options("lds", config))
    assert np.array_equal(masks, alpha_subsets(30, 40, 0.3, seed=seed_stream(2, "lds"))) and owner.shape == (0,)
    assert "lds" not in complete_schema(SCHEMA)["properties"]["coalitions"]["properties"]


def test_unknown_dataset_names_the_config_key():
    with pytest.raises(ValueError, match="data.dataset"):
        load_dataset("imagenet")


def test_plugins_register_from_a_file_once(tmp_path):
    plugin = tmp_path / "plugin_design.py"
    plugin.write_text(
        "import numpy as np\n"
        "from fastdatashapley.games.designs import Design, register\n"
        "register(Design('halves', lambda r: (np.tile(np.arange(r.n) < r.n // 2, (r.size, 1)), np.zeros(0, int)),"
        " lambda n, b: int(b), 4))\n"
    )
    try:
        load_plugins([plugin.name], base=tmp_path)
        load_plugins([str(plugin)])  # the same file again: not run twice (no "registered already")
        masks, _ = sample("halves", 6, 3, seed=0)
        assert masks.tolist() == [[True, True, True, False, False, False]] * 3
        schema = complete_schema(SCHEMA)
        assert schema["properties"]["coalitions"]["properties"]["halves"]["default"] == 4
    finally:
        DESIGNS.unregister("halves")
    with pytest.raises(FileNotFoundError, match="plugins"):
        load_plugins(["missing.py"], base=tmp_path)


def test_schema_enums_and_sections_come_from_the_registries():
    schema = complete_schema(SCHEMA)
    props = schema["properties"]
    assert props["baselines"]["properties"]["methods"]["items"]["enum"] == [m.name for m in of_kind(BASELINE)]
    assert props["explainers"]["properties"]["trainer"]["default"] == {"fds": "full", "fds_paper": "full", "afds": "approx",
                                                                        "gfds": "approx", "gfds+": "approx", "fast_banzhaf": "full"}
    assert set(props["baselines"]["properties"]) >= {"tmc", "group_testing", "cs_shapley", "freeshap"}
    assert SCHEMA["properties"]["data"]["properties"]["dataset"]["enum"] == []  # the template is not modified


def test_validation_fills_defaults_and_names_the_key():
    config = {"baselines": {"tmc": {"n_permutations": 7}}}
    validate_config(config, complete_schema(SCHEMA))
    assert config["baselines"]["tmc"] == {"n_permutations": 7, "tolerance": 0.01, "batch_permutations": 50}
    assert config["coalitions"]["kernel"] == 2048 and config["plugins"] == []
    with pytest.raises(ConfigError, match="baselines.freeshap.ridge"):
        validate_config({"baselines": {"freeshap": {"ridge": 0}}}, complete_schema(SCHEMA))
    with pytest.raises(ConfigError, match="unknown key baselines.tmc.n_perms"):
        validate_config({"baselines": {"tmc": {"n_perms": 3}}}, complete_schema(SCHEMA))


def test_scale_settings_are_optional_so_existing_configs_keep_their_params():
    """group_testing.solver and tmc.block_positions (config/scale.yaml) have no schema default: a config without
    them validates to the same params as before they existed, so its finished jobs do not rerun."""
    config = {}
    validate_config(config, complete_schema(SCHEMA))
    assert config["baselines"]["group_testing"] == {"n_samples": 2048, "epsilon": 0.001}  # no solver key filled in
    assert config["baselines"]["tmc"] == {"n_permutations": 100, "tolerance": 0.01, "batch_permutations": 50}
    with pytest.raises(ConfigError, match="baselines.tmc.block_positions"):
        validate_config({"baselines": {"tmc": {"block_positions": 0}}}, complete_schema(SCHEMA))
    chosen = {"baselines": {"group_testing": {"solver": "closed_form"}}}
    validate_config(chosen, complete_schema(SCHEMA))
    assert chosen["baselines"]["group_testing"]["solver"] == "closed_form"
    with pytest.raises(ConfigError, match="baselines.group_testing.solver"):
        validate_config({"baselines": {"group_testing": {"solver": "simplex"}}}, complete_schema(SCHEMA))
