"""Counting usage events as they happen, cheaply, and writing them in batches.

The protocols call :meth:`UsageMeter.message_received`,
:meth:`UsageMeter.message_sent` and :meth:`UsageMeter.web_request` on the
event loop; each adds to a dict in memory and does nothing else (no
clock read beyond a float compare, no I/O). :meth:`UsageMeter.run`, a task
of the daemon beside its other periodic jobs, writes what was counted into
each business's file through :meth:`appliance.services.usage.UsageRecords.add_events`
in a worker thread every ``[usage] flush_seconds`` (sooner when
:data:`MAX_PENDING` keys wait), samples every business's sizes once a UTC
day (and when the daemon starts), and :meth:`UsageMeter.flush` writes the
rest when the daemon stops.

What a crash loses: the events counted since the last flush, at most
``flush_seconds`` of them (a ``kill -9`` or power loss; a clean stop
flushes). These are billing figures, not acknowledgements: nothing a
client was told depends on them.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services.usage import UsageRecords

log = logging.getLogger(__name__)

#: (business, day) keys held in memory at most before a flush is hurried.
MAX_PENDING = 20_000
#: How often the sampler looks whether the UTC day changed.
SAMPLE_CHECK_SECONDS = 300.0

# The positions of the counters in a pending entry.
_RECEIVED, _SENT, _REQUESTS, _BYTES = range(4)
_NAMES = ("messages_received", "messages_sent", "web_requests", "web_bytes")


class UsageMeter:
    """Event counters in memory, flushed in batches. See module doc."""

    def __init__(self, records: UsageRecords, flush_seconds: float):
        self.records = records
        self.flush_seconds = flush_seconds
        #: (slug, day) -> [received, sent, requests, bytes]
        self._pending: dict[tuple[str, str], list[int]] = {}
        self._day = ""
        self._day_ends = 0.0
        self._hurry = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._sampled_day = ""

    # -- counting (on the loop, cheap) ---------------------------------------

    def _entry(self, slug: str) -> list[int]:
        now = time.time()
        if now >= self._day_ends:
            self._roll_day(now)
        key = (slug, self._day)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = [0, 0, 0, 0]
            if len(self._pending) >= MAX_PENDING:
                self._hurry.set()
        return entry

    def _roll_day(self, now: float) -> None:
        day = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        self._day = day.strftime("%Y-%m-%d")
        midnight = day.replace(hour=0, minute=0, second=0, microsecond=0) + datetime.timedelta(days=1)
        self._day_ends = midnight.timestamp()

    def message_received(self, slug: str) -> None:
        """A message was filed into the business's mailboxes (committed)."""
        self._entry(slug)[_RECEIVED] += 1

    def message_sent(self, slug: str) -> None:
        """A user of the business submitted a message (committed)."""
        self._entry(slug)[_SENT] += 1

    def web_request(self, slug: str, body_bytes: int) -> None:
        """The business's website answered a request with ``body_bytes``."""
        entry = self._entry(slug)
        entry[_REQUESTS] += 1
        entry[_BYTES] += body_bytes

    # -- writing (in a thread) -------------------------------------------------

    async def flush(self) -> int:
        """Write what was counted so far; returns the (business, day) keys
        written. What fails to be written is counted again for the next
        flush (within :data:`MAX_PENDING`)."""
        async with self._flushing:
            batch, self._pending = self._pending, {}
            self._hurry.clear()
            if not batch:
                return 0
            named = {key: dict(zip(_NAMES, values)) for key, values in batch.items()}
            try:
                failed = await asyncio.to_thread(self.records.add_events, named)
            except Exception:  # noqa: BLE001 - keep the counts for the next round
                log.exception("usage: cannot write counted events")
                failed = list(batch)
            for key in failed:
                if len(self._pending) >= MAX_PENDING:
                    log.warning("usage: too many unwritten counts; dropping those of %s %s", *key)
                    continue
                entry = self._pending.setdefault(key, [0, 0, 0, 0])
                for i, value in enumerate(batch[key]):
                    entry[i] += value
            return len(batch) - len(failed)

    async def sample_if_new_day(self) -> bool:
        """Sample every business's sizes once per UTC day; returns whether it did."""
        day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
        if day == self._sampled_day:
            return False
        count = await asyncio.to_thread(self.records.sample)
        self._sampled_day = day
        log.info("usage: sampled the sizes of %d businesses for %s", count, day)
        return True

    async def run(self) -> None:
        """Flush every ``flush_seconds`` (or when hurried) and sample once a
        day, until cancelled; errors are logged and the next round retries."""
        next_check = 0.0
        while True:
            now = time.monotonic()
            if now >= next_check:
                next_check = now + SAMPLE_CHECK_SECONDS
                try:
                    await self.sample_if_new_day()
                except Exception:  # noqa: BLE001 - try again at the next check
                    log.exception("usage: cannot sample the businesses' sizes")
            try:
                await asyncio.wait_for(self._hurry.wait(), self.flush_seconds)
            except asyncio.TimeoutError:
                pass
            await self.flush()
