"""The package's layers: every import inside src/fastdatashapley points down (or within) the stated order."""

from __future__ import annotations

import ast
from pathlib import Path

from workflow_helpers import ROOT

import fastdatashapley

PACKAGE = ROOT / "src" / "fastdatashapley"


def _layer(module: str) -> int:
    """Index in ``LAYERS`` of a module path below the package (``games.walk`` -> 2)."""
    return fastdatashapley.LAYERS.index(module.split(".")[0])


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module below the package) for every import in ``path``, lazy ones included."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    here = list(parts[:-1]) if parts[-1] != "__init__" else list(parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                if not node.module:  # from . import x: x is a module of that package or a name of it
                    target = ".".join(base) or node.names[0].name
            elif node.module and node.module.startswith("fastdatashapley."):
                target = node.module.removeprefix("fastdatashapley.")
            else:
                continue
            found.append((node.lineno, target or parts[0]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.removeprefix("fastdatashapley.")) for a in node.names
                      if a.name.startswith("fastdatashapley.")]
    return found


def test_every_module_sits_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        assert top == "__init__" or top in fastdatashapley.LAYERS, f"{path} is in no layer of fastdatashapley.LAYERS"


def test_imports_point_down_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue
        mine = _layer(".".join(rel.with_suffix("").parts))
        for line, target in _imports(path):
            if _layer(target) > mine:
                wrong.append(f"{rel}:{line} imports {target} (layer {_layer(target)} above {mine})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_an_upward_import(tmp_path):
    """The parser resolves relative imports: a games module importing the engine is caught."""
    bad = PACKAGE / "games" / "_layer_probe.py"
    bad.write_text("from ..engine.retrainer import Retrainer\nfrom .walk import walk\n")
    try:
        targets = [t for _, t in _imports(bad)]
        assert targets == ["engine.retrainer", "games.walk"]
        assert _layer(targets[0]) > _layer("games._layer_probe")
    finally:
        bad.unlink()
