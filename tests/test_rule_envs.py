"""Every rule's script imports only what its declared conda env provides (resolved statically, without conda).

For each rule (``use rule`` copies inherit their base rule's env and script) the test follows the script's
imports through ``workflow/scripts/common.py`` and every ``fastdatashapley`` module it reaches, counting imports
inside functions, and every module of a package that imports its modules by name (``methods``): conservative. Each third-party module must come from a distribution that the env
pins, or from a dependency of one (read from the installed packages' metadata).
"""

from __future__ import annotations

import ast
import re
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
RULE_HEAD = re.compile(r"^(?:rule (\w+)|use rule (\w+) as (\w+)(?: with)?):", re.M)


def rules() -> dict[str, tuple[str, str]]:
    """rule name -> (env file, script file), from the .smk sources."""
    found, uses = {}, {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        heads = list(RULE_HEAD.finditer(text))
        for k, head in enumerate(heads):
            body = text[head.end(): heads[k + 1].start() if k + 1 < len(heads) else len(text)]
            if head.group(1):
                env = re.search(r'conda:\s*\n\s*"([^"]+)"', body)
                script = re.search(r'script:\s*\n\s*"([^"]+)"', body)
                if script:
                    assert env, f"rule {head.group(1)} in {smk.name} has a script but no conda env"
                    found[head.group(1)] = ((smk.parent / env.group(1)).resolve(), (smk.parent / script.group(1)).resolve())
            else:
                uses[head.group(3)] = head.group(2)
    for new, base in uses.items():
        found[new] = found[base]
    return found


def env_pins(env: Path) -> set[str]:
    deps = yaml.safe_load(env.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    return {_norm(line.split("==")[0]) for line in pip}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=None)
def closure(dist: str) -> frozenset[str]:
    """``dist`` and every distribution it requires (no extras), from installed metadata."""
    out, todo = set(), [dist]
    while todo:
        name = _norm(todo.pop())
        if name in out:
            continue
        out.add(name)
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in reqs if "extra ==" not in r]
    return frozenset(out)


def module_file(name: str) -> Path | None:
    """The source file of a ``fastdatashapley`` module (package ``__init__`` for packages)."""
    path = SRC / Path(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path, package: str | None) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (relative imports resolved against ``package``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            names.add(mod)
            names |= {f"{mod}.{a.name}" for a in node.names if module_file(f"{mod}.{a.name}")}
    return names


def third_party(script: Path) -> set[str]:
    """Top-level third-party modules reached from a rule script."""
    seen, todo, found = set(), [(script, None)], set()
    while todo:
        path, package = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports_of(path, package):
            top = name.split(".")[0]
            if top == "common":
                todo.append((ROOT / "workflow" / "scripts" / "common.py", None))
            elif top == "fastdatashapley":
                file = module_file(name)
                if file is not None and file.name == "__init__.py":
                    todo.append((file, name))
                    if "import_module" in file.read_text():  # the package imports its modules by name
                        todo += [(f, name) for f in sorted(file.parent.glob("*.py"))]
                elif file is not None:
                    todo.append((file, name.rsplit(".", 1)[0]))
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
    return found


RULES = rules()


def test_every_script_rule_is_found():
    assert {"baseline", "explainer", "report_tables", "grouping_table", "grouping_shard", "shard"} <= set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_imports_resolve_in_its_env(rule):
    env, script = RULES[rule]
    provided = set().union(*(closure(d) for d in env_pins(env)))
    dists = metadata.packages_distributions()
    missing = {}
    for module in sorted(third_party(script)):
        names = {_norm(d) for d in dists.get(module, [])}
        if not names & provided:
            missing[module] = sorted(names) or ["(not installed)"]
    assert not missing, f"rule {rule} ({script.name}) imports {missing}, which {env.name} does not provide"


def test_report_rules_do_not_import_torch():
    for rule in ("report_tables", "grouping_table", "provider_table"):
        assert "torch" not in third_party(RULES[rule][1]), rule


def test_scripts_common_makes_the_library_importable(tmp_path):
    """workflow/scripts/common.py puts the repository's src first, so a conda env needs no install of the package."""
    import subprocess

    code = ("import sys; sys.path.insert(0, sys.argv[1]); import common, fastdatashapley.methods as m; "
            "print(m.__file__)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "workflow" / "scripts")], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert Path(out).resolve().is_relative_to(SRC), out
