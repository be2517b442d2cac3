"""What speechvae prints: log lines and progress bars sharing one terminal.

- Log records are written with ``tqdm.write``, so a line never lands glued onto a bar.
- ``-q`` (:func:`setup_logging` with ``quiet=True``) turns bars off with the INFO lines.
- When stderr is not a terminal (a recipe piped into a log file), a bar redraws at most every
  ``PIPED_INTERVAL_S`` seconds instead of ten times a second, so the log keeps a few lines per bar.
"""
from __future__ import annotations

import logging
import sys
from typing import Iterable

from tqdm import tqdm

PIPED_INTERVAL_S = 30.0
_QUIET = False


class _TqdmHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_logging(quiet: bool = False) -> None:
    """speechvae's loggers at INFO (WARNING with ``quiet``), third-party ones at WARNING; bars off
    with ``quiet``. Called once by the CLI."""
    global _QUIET
    _QUIET = quiet
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s speechvae %(levelname)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _TqdmHandler)] + [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("speechvae").setLevel(logging.WARNING if quiet else logging.INFO)


def progress_bar(iterable: Iterable | None = None, *, desc: str, unit: str, total: int | None = None,
                 enabled: bool = True) -> tqdm:
    """A tqdm bar on stderr following the rules above (``enabled=False`` for library callers that
    want silence, e.g. sweep cells)."""
    tty = sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=_QUIET or not enabled, file=sys.stderr,
                mininterval=0.1 if tty else PIPED_INTERVAL_S, dynamic_ncols=tty)
