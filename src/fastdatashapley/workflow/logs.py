"""Logging set-up shared by the rule scripts and the CLI."""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(path: str | os.PathLike | None = None, name: str = "fastdatashapley") -> logging.Logger:
    """Log INFO and above to ``path`` (and send stderr there too, so tqdm bars land in the log). Python warnings
    become WARNING log lines, with the time and the code that raised them.

    Without ``path`` it logs to stderr.
    """
    handlers: list[logging.Handler] = []
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        stream = open(path, "a", buffering=1)
        sys.stderr = stream
        handlers.append(logging.StreamHandler(stream))
    else:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    return logging.getLogger(name)
