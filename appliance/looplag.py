"""How late the event loop runs what it was asked to run.

A task sleeps for ``interval`` and measures how much later than asked it
woke. Lag in milliseconds means every protocol is answering promptly; lag in
seconds means something is blocking the loop (a bug: slow work belongs in
threads). The figures are exposed on the metrics endpoint, and ``/healthz``
fails when no sample was taken lately (the loop is stalled).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

#: Lag above this is logged as a warning.
WARN_SECONDS = 0.25


class LoopLag:
    """Samples the loop's lag every ``interval`` seconds; each sample also
    goes to ``observe`` (the metrics' histogram)."""

    def __init__(self, interval: float = 0.25, observe: Callable[[float], None] | None = None):
        self.interval = interval
        self.observe = observe
        #: time.monotonic() of the last sample: the loop was alive then.
        self.last_seen = time.monotonic()
        self.last = 0.0
        self.max = 0.0
        self.samples = 0
        self.total = 0.0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(self.interval)
            lag = max(0.0, time.monotonic() - started - self.interval)
            self.last = lag
            self.last_seen = time.monotonic()
            if self.observe is not None:
                self.observe(lag)
            self.max = max(self.max, lag)
            self.samples += 1
            self.total += lag
            if lag > WARN_SECONDS:
                log.warning("event loop lag %.3fs", lag)

    @property
    def mean(self) -> float:
        return self.total / self.samples if self.samples else 0.0
