"""Shared start-up for rule scripts: make the library importable, load plugins and log into the rule's log file."""

import logging
import os
import sys
from pathlib import Path

# workflow/scripts/common.py -> the repository root's src
SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "fastdatashapley"


def use_checkout() -> None:
    """Make ``fastdatashapley`` this checkout's package, whatever else is installed: its ``src`` goes first on
    ``sys.path``, and a copy imported already from elsewhere (Snakemake's preamble unpickles the job's values
    before this script runs; a venv's editable install can point to another checkout) is dropped and imported
    again from here. ImportError (one line, naming both folders) if it still comes from elsewhere."""
    sys.path[:] = [str(SRC), *(p for p in sys.path if p != str(SRC))]
    if _folder(sys.modules.get("fastdatashapley")) not in (None, PACKAGE):
        for name in [m for m in sys.modules if m == "fastdatashapley" or m.startswith("fastdatashapley.")]:
            del sys.modules[name]
    import fastdatashapley

    if _folder(fastdatashapley) != PACKAGE:
        raise ImportError(f"this job imported fastdatashapley from {_folder(fastdatashapley)}, not from this "
                          f"checkout's {PACKAGE}")


def _folder(module) -> Path | None:
    """The folder of a package module (None for no module)."""
    return None if module is None else Path(module.__file__).resolve().parent


use_checkout()

from fastdatashapley.workflow.logs import setup_logging  # noqa: E402
from fastdatashapley.base.registry import load_plugins  # noqa: E402


def start(smk) -> logging.Logger:
    """Limit threads to the job's ``threads``, import the config's plugins, log into the rule's log file.

    torch takes its thread count from ``OMP_NUM_THREADS`` when it is imported later, and from
    ``torch.set_num_threads`` when the script imported it already; report rules never import it.
    """
    threads = max(1, int(smk.threads))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    load_plugins(smk.config.get("plugins") or [])
    log = setup_logging(smk.log[0], name=smk.rule)
    log.info("fastdatashapley from %s", PACKAGE)
    log.info("threads: %d, params: %s", threads, dict(smk.params.items()))
    return log
