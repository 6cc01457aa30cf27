"""A workflow plugin for the tests: hold one job at one of its log lines until the test lets it go.

Inert unless ``FDS_HOLD`` names a folder. The job whose log file is ``FDS_HOLD_LOG``, when it logs a line that
starts with ``FDS_HOLD_LINE``, writes its pid to ``<FDS_HOLD>/held`` and waits until ``<FDS_HOLD>/release``
exists. The job is the real one and runs unchanged before and after, so a test can signal it at a known point
of its work (a condition) instead of after a time.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

HELD, RELEASE = "held", "release"


class Hold(logging.Handler):
    """Blocks in ``emit`` on the first record whose message starts with ``line``."""

    def __init__(self, folder: Path, line: str) -> None:
        super().__init__()
        self.folder, self.line = folder, line

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith(self.line):
            return
        tmp = self.folder / f".{HELD}.{os.getpid()}"
        tmp.write_text(str(os.getpid()))
        os.replace(tmp, self.folder / HELD)
        while not (self.folder / RELEASE).exists():
            time.sleep(0.05)


def install() -> None:
    """Hold this job if it is the one ``FDS_HOLD_LOG`` names (rule scripts run with ``snakemake`` in __main__)."""
    folder = os.environ.get("FDS_HOLD")
    smk = getattr(sys.modules.get("__main__"), "snakemake", None)
    if folder and smk is not None and Path(smk.log[0]).resolve() == Path(os.environ["FDS_HOLD_LOG"]).resolve():
        logging.getLogger(smk.rule).addHandler(Hold(Path(folder), os.environ["FDS_HOLD_LINE"]))


install()
