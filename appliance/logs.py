"""Logging set-up: one line per record, readable under journald.

Under systemd (``$JOURNAL_STREAM`` set) journald adds the time and the unit,
so lines carry only the level and the logger. Elsewhere a timestamp leads.
Library code only ever calls ``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import logging
import os
import sys


def setup(level: str = "INFO") -> None:
    if os.environ.get("JOURNAL_STREAM"):
        fmt = "%(levelname)s %(name)s: %(message)s"
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Twisted logs through the stdlib once its observer is bridged (daemon).
    for noisy in ("asyncio",):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
