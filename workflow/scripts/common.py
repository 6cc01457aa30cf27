"""Shared start-up for rule scripts: make the library importable, load plugins and log into the rule's log file."""

import logging
import os
import sys
from pathlib import Path

# workflow/scripts/common.py -> the repository root's src
SRC = Path(__file__).resolve().parents[2] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

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
    log.info("threads: %d, params: %s", threads, dict(smk.params.items()))
    return log
