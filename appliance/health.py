"""What ``/healthz`` answers: a few real checks, each bounded in time.

* ``loop``: the loop-lag sampler ran lately (a loop that runs timers is
  alive; this answer itself is written by the loop);
* ``database``: the box database committed a write within
  ``[metrics] health_timeout_ms`` (on its writer thread, never the loop's);
* ``disk``: the state directory's file system has ``[metrics]
  health_min_free_mb`` free (``statvfs`` in a thread, with the same bound:
  a hung file system must not hang the loop);
* ``queue``: the oldest outbound message, as the queue runner last read
  it, is younger than ``[metrics] health_queue_age``.

:func:`run` never raises: a check that errs or runs out of time fails.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from storage import box as boxdb

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger(__name__)

#: The loop-lag sampler runs every quarter second; this many seconds
#: without a sample means the sampler (or the loop under it) is stuck.
LOOP_STALE_SECONDS = 5.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Health:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def as_dict(self) -> dict:
        """``{"status": "ok"|"fail", "failing": [names], "checks": {name: {ok, detail}}}``."""
        return {
            "status": "ok" if self.ok else "fail",
            "failing": [c.name for c in self.checks if not c.ok],
            "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks},
        }


async def run(app: App) -> Health:
    """Run every check (concurrently); see the module doc."""
    timeout = app.settings.metrics.health_timeout_ms / 1000
    checks = await asyncio.gather(
        _bounded("database", _database(app), timeout),
        _bounded("disk", _disk(app), timeout),
    )
    return Health((_loop(app), *checks, _queue(app)))


async def _bounded(name: str, coro, timeout: float) -> Check:
    try:
        # Shielded: cancelling a write's future would leave the writer
        # thread a cancelled future to resolve; the check just stops waiting.
        return await asyncio.wait_for(asyncio.shield(coro), timeout)
    except asyncio.TimeoutError:
        return Check(name, False, f"no answer within {timeout:g}s")
    except Exception as exc:  # noqa: BLE001 - a failing check is the finding
        log.warning("health check %s failed: %r", name, exc)
        return Check(name, False, f"error: {exc}")


def _loop(app: App) -> Check:
    lag = app.loop_lag
    since = time.monotonic() - lag.last_seen
    if since > LOOP_STALE_SECONDS:
        return Check("loop", False, f"no loop-lag sample for {since:.1f}s")
    return Check("loop", True, f"lag {lag.last * 1000:.1f} ms")


async def _database(app: App) -> Check:
    started = time.monotonic()
    await app.box.write("health check", lambda conn: boxdb.mark_alive(conn, time.time()))
    return Check("database", True, f"box database committed a write in {(time.monotonic() - started) * 1000:.0f} ms")


async def _disk(app: App) -> Check:
    usage = await asyncio.to_thread(shutil.disk_usage, app.state_dir)
    need = app.settings.metrics.health_min_free_mb * 2**20
    free_mb = usage.free // 2**20
    if usage.free < need:
        return Check("disk", False, f"{free_mb} MiB free, below {need // 2**20} MiB")
    return Check("disk", True, f"{free_mb} MiB free")


def _queue(app: App) -> Check:
    age = app.metrics.queue_oldest_seconds()
    limit = app.settings.metrics.health_queue_age
    if age > limit:
        return Check("queue", False, f"oldest outbound message waits for {age:.0f}s (limit {limit}s)")
    return Check("queue", True, f"oldest outbound message {age:.0f}s old")
