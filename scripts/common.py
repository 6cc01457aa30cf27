"""Shared start-up for rule scripts: make the library importable and log into the rule's log file."""

import logging
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from fastdatashapley.logs import setup_logging  # noqa: E402


def start(smk) -> logging.Logger:
    """Set up logging for a Snakemake script job and log its parameters."""
    log = setup_logging(smk.log[0], name=smk.rule)
    log.info("params: %s", dict(smk.params.items()))
    return log
