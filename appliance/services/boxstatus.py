"""The box's status: ``appliance check`` and the operators' "Box status"
page run the same checks through this service.

A :class:`Report` holds the box's own checks (:func:`appliance.checks.run_all`)
and, unless only those were asked for, the outside ones
(:func:`appliance.outsidechecks.run_outside`, each lookup and connection
bounded by ``[check] timeout``). The page reloads the last report while it is
younger than ``[panel] check_cache_seconds``, so reloading it sends no new
lookups; "Check again" (and the CLI) always look anew.

The checks block (DNS, sockets, SQLite reads): a front end on the event
loop calls :meth:`BoxStatus.run_async` or :meth:`BoxStatus.recent_async`,
which run them on the service's own thread.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import checks, outsidechecks
from ..checks import Result

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """One run of the checks."""

    #: The box's own checks (files, listeners, queue, backups, certificates...).
    local: list[Result]
    #: The world's view (DNS, reverse DNS, port 25), or None when not asked.
    outside: list[Result] | None
    #: When the run ended, ISO 8601 UTC to the second.
    checked_at: str

    @property
    def results(self) -> list[Result]:
        """Every row, the box's own first, as the CLI prints them."""
        return self.local + (self.outside or [])

    @property
    def failed(self) -> bool:
        return any(r.status == "fail" for r in self.results)


def groups(results: list[Result]) -> list[tuple[str, list[Result]]]:
    """``results`` grouped by check name, in the order the names first come
    (the order the CLI prints them in)."""
    grouped: dict[str, list[Result]] = {}
    for result in results:
        grouped.setdefault(result.check, []).append(result)
    return list(grouped.items())


class BoxStatus:
    """Runs the checks and keeps the last full report (see module doc)."""

    def __init__(self, app: App):
        self.app = app
        self._lock = threading.Lock()
        # One run at a time: two operators reloading at once share a run.
        self._running = threading.Lock()
        self._kept: tuple[float, Report] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="box-status")

    def run(self, *, outside: bool = True) -> Report:
        """Run the box's checks, and the outside ones unless ``outside`` is
        false, now. Changes nothing but the kept report (a full run only).
        Raises nothing: a check that crashes is a ``fail`` row."""
        with self._running:
            return self._run(outside)

    def recent(self) -> Report:
        """The last full report if younger than ``[panel] check_cache_seconds``,
        else a new full run (:meth:`run`)."""
        with self._running:
            ttl = self.app.settings.panel.check_cache_seconds
            with self._lock:
                kept = self._kept
            if kept is not None and time.monotonic() - kept[0] < ttl:
                return kept[1]
            return self._run(True)

    async def run_async(self) -> Report:
        """:meth:`run` (a full run) for a front end on the event loop, on the service's thread."""
        return await asyncio.wrap_future(self._thread.submit(self.run))

    async def recent_async(self) -> Report:
        """:meth:`recent` for a front end on the event loop, on the service's thread."""
        return await asyncio.wrap_future(self._thread.submit(self.recent))

    def _run(self, outside: bool) -> Report:
        started = time.monotonic()
        local = checks.run_all(self.app)
        seen = outsidechecks.run_outside(self.app) if outside else None
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        report = Report(local, seen, now.isoformat())
        if outside:
            with self._lock:
                self._kept = (time.monotonic(), report)
        log.info("box checked%s in %.1f s: %d rows, %d failed", "" if outside else " (local only)",
                 time.monotonic() - started, len(report.results), sum(r.status == "fail" for r in report.results))
        return report

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
