"""One registry per concept (methods, coalition designs, datasets): a name -> entry map in registration order.

The workflow builds its schema enums, wildcard patterns, report order and rule-script dispatch from these
registries, so a new method, design or dataset is one module that calls ``register`` and nothing else.
Plugin modules (config key ``plugins``) are imported by :func:`load_plugins` in every process that needs them.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path
from typing import Generic, Iterator, Protocol, Sequence, TypeVar

#: Names may be used in file names and wildcards: letters, digits, ``_``, ``+`` and ``-``.
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*$")


class Named(Protocol):
    name: str


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """Entries of one concept, keyed by ``entry.name``, kept in registration order."""

    def __init__(self, concept: str) -> None:
        self.concept = concept
        self._entries: dict[str, T] = {}

    def register(self, entry: T) -> T:
        """Add ``entry``; a bad or taken name is a ValueError. Returns the entry (usable as a decorator result)."""
        name = entry.name
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ValueError(f"{self.concept} name {name!r} must match {NAME_PATTERN.pattern}")
        if name in self._entries:
            raise ValueError(f"{self.concept} {name!r} is registered already")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and interactive sessions)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry called ``name``; KeyError listing the known names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.concept} {name!r}; registered: {', '.join(self._entries)}") from None

    def names(self) -> tuple[str, ...]:
        """Registered names in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(tuple(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)


def wildcard_pattern(names: Sequence[str]) -> str:
    """A regular expression that matches exactly one of ``names`` (for Snakemake wildcard constraints)."""
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


def load_plugins(plugins: Sequence[str], base: str | Path = ".") -> None:
    """Import plugin modules that register entries: a ``.py`` file path (relative to ``base``) or a module name.

    Importing is idempotent: a file already imported in this process is not run again. A missing file is a
    FileNotFoundError, and any failure of the import (no such module, an error in the plugin) an ImportError, each
    one line naming the plugin and the config key ``plugins``.
    """
    for plugin in plugins:
        try:
            _load_plugin(plugin, base)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise ImportError(f"config key plugins: cannot import plugin {plugin!r} "
                              f"({type(exc).__name__}: {exc})") from exc


def _load_plugin(plugin: str, base: str | Path) -> None:
    """Import one plugin of :func:`load_plugins`."""
    if not plugin.endswith(".py"):
        importlib.import_module(plugin)
        return
    path = (Path(base) / plugin).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"plugin file {path} (config key plugins) does not exist")
    name = "fastdatashapley_plugin_" + re.sub(r"\W", "_", str(path))
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        del sys.modules[name]
        raise
