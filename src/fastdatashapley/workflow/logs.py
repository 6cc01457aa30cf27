"""Logging set-up shared by the rule scripts and the CLI."""

from __future__ import annotations

import logging
import os
import sys

#: Errors of the input or the machine (a bad file or value, a full disk): a job logs them as one ERROR line that
#: names the thing at fault; any other exception, a bug, keeps its traceback.
ONE_LINE_ERRORS = (ValueError, OSError)


def setup_logging(path: str | os.PathLike | None = None, name: str = "fastdatashapley") -> logging.Logger:
    """Log INFO and above to ``path`` (and send stderr there too, so tqdm bars land in the log). Python warnings
    become WARNING log lines, with the time and the code that raised them, and an uncaught error of
    :data:`ONE_LINE_ERRORS` one ERROR line.

    Without ``path`` it logs to stderr (and uncaught errors print as usual).
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
    log = logging.getLogger(name)
    if path is not None:
        sys.excepthook = _one_line_errors(log)
    return log


def _one_line_errors(log: logging.Logger):  # type: ignore[no-untyped-def]
    """A ``sys.excepthook`` that logs :data:`ONE_LINE_ERRORS` as one ERROR line and prints any other traceback."""

    def hook(kind, exc, tb):  # type: ignore[no-untyped-def]
        if issubclass(kind, ONE_LINE_ERRORS):
            log.error("%s: %s", kind.__name__, exc)
        else:
            sys.__excepthook__(kind, exc, tb)

    return hook
