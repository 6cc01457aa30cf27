"""Shared start-up for rule scripts: make the library importable and log into the rule's log file."""

import logging
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from fastdatashapley.logs import setup_logging  # noqa: E402


def start(smk) -> logging.Logger:
    """Set torch threads to the job's ``threads``, log into the rule's log file and log the params."""
    import torch

    torch.set_num_threads(max(1, int(smk.threads)))
    log = setup_logging(smk.log[0], name=smk.rule)
    log.info("threads: %d, params: %s", smk.threads, dict(smk.params.items()))
    return log
