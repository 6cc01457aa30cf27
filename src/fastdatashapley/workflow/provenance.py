"""What a result's last bits depend on: the seed, torch's thread count and the machine.

The same config and seed give bit-identical results on the same machine with the same ``--cores`` (torch
thread count). Other thread counts or CPUs sum floats in another order: values then differ in their last bits
(up to 5.7e-8 measured between ``--cores 1`` and ``2``), and a retraining that starts from such values can
pick other points to remove, which moved an H_10% by 0.46 between two machines (docs/results.md).
"""

from __future__ import annotations

import platform
from typing import Any, Mapping

#: What reproduces and what does not, written into every provenance file.
REPRODUCIBILITY = (
    "bit for bit with the same config, seed, torch_threads (snakemake --cores) and machine; other thread counts "
    "or CPUs change values in their last bits (up to 5.7e-8 measured) and H_eta by up to about 0.5"
)


def runtime() -> dict[str, Any]:
    """Library versions and the CPU of this process (what float results depend on), without importing torch:
    the report job that writes the provenance runs in an environment without it."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"torch": version("torch"), "numpy": version("numpy"), "machine": platform.machine(), "cpu": _cpu_model()}


def _cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table_provenance(values_meta: Mapping[str, Mapping[str, Any]], removal_threads: Mapping[str, int | None]) -> dict:
    """Provenance of a value-loss table from each method's values metadata and its removal job's thread count.

    ``values_meta``: method label -> the metadata of its values file; ``removal_threads``: method label -> the
    torch thread count of its removal job (None if unknown). The top level names the seed(s) and thread counts.
    """
    methods = {
        label: {"seed": meta.get("seed"), "values_torch_threads": meta.get("torch_threads"),
                "removal_torch_threads": removal_threads.get(label)}
        for label, meta in values_meta.items()
    }
    seeds = sorted({m["seed"] for m in methods.values() if m["seed"] is not None})
    threads = sorted({t for m in methods.values() for t in (m["values_torch_threads"], m["removal_torch_threads"])
                      if t is not None})
    return {
        "seed": seeds[0] if len(seeds) == 1 else seeds,
        "torch_threads": threads[0] if len(threads) == 1 else threads,
        "reproducibility": REPRODUCIBILITY,
        "runtime": runtime(),
        "methods": methods,
    }
