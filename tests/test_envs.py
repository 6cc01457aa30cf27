"""The pinned conda envs, pyproject and requirements.txt agree on every version."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            out[name.strip().lower()] = version.strip()
    return out


def test_requirements_are_exact_pins():
    lines = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines and all("==" in ln for ln in lines), "every requirement must be pinned with =="
    req = pins(lines)
    assert req["torch"] == "2.14.1" and req["torchvision"] == "0.29.1" and req["snakemake"] == "9.27.1"


def test_conda_envs_match_requirements():
    req = pins((ROOT / "requirements.txt").read_text().splitlines())
    envs = sorted((ROOT / "workflow" / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        deps = spec["dependencies"]
        assert "python=3.11" in deps, f"{env.name} must pin python=3.11"
        pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
        env_pins = pins(pip)
        assert len(env_pins) == len(pip), f"{env.name}: every pip entry must be pinned with =="
        for name, version in env_pins.items():
            assert req.get(name) == version, f"{env.name}: {name}=={version} but requirements.txt has {req.get(name)}"


def test_pyproject_matches_requirements():
    import tomllib

    req = pins((ROOT / "requirements.txt").read_text().splitlines())
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, version in pins(deps).items():
        assert req.get(name) == version, f"pyproject: {name}=={version} but requirements.txt has {req.get(name)}"
