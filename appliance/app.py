"""The composition root: builds and owns settings, stores, auth, TLS and the
protocol services. Everything else receives what it needs from here.

The CLI builds an :class:`App` to reach the services (``app.core``) and
never starts the protocol services; the daemon (``appliance.daemon``) starts them on its event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import inspect
import json
import logging
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Awaitable, Callable, Iterable

from storage import box as boxdb
from storage import schema
from storage.database import Database
from storage.tenants import TenantPool

from . import dnsdata, tls
from .auth import Authenticator
from .catalog import Catalog
from .looplag import LoopLag
from .mailevents import MailEvents
from .metrics import Metrics
from .passwords import Hasher
from .provisioning import Provisioning
from .services import Services
from .services.boxstatus import BoxStatus
from .spam import SpamFilter
from .startup import STEPS, Running, start_step
from .settings import Settings
from .usagemeter import UsageMeter

if TYPE_CHECKING:
    # Imported when first needed: it loads the TLS libraries, which the CLI
    # mostly does without.
    from .certs.sni import Selector

log = logging.getLogger(__name__)

#: How often the daemon looks for changes made by the CLI (another process).
WATCH_SECONDS = 1.0
#: How often idle business files are closed (at most; more often when
#: ``[storage] idle_seconds`` is short).
EVICT_SECONDS = 30.0
#: How often the panel's vacation replies are turned on or off by their dates.
VACATION_DATES_SECONDS = 3600.0
#: How often businesses that moved away are looked at, to remove those past
#: ``[fleet] grace_days``.
MOVED_AWAY_SECONDS = 3600.0
#: How often the replica's lag is read for the metrics (with backups on).
BACKUP_LAG_SECONDS = 15.0


def release_memory() -> None:
    """Give the C library's free memory back to the system (glibc's
    ``malloc_trim``; nothing elsewhere). The page caches of the files just
    closed were freed in many threads' arenas, which glibc would otherwise
    keep for ever: an idle box should look idle from outside."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class App:
    def __init__(self, settings: Settings, state_dir: str | Path):
        self.settings = settings
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        # With continuous backups Litestream checkpoints, so that it ships
        # every change once (appliance.backup).
        checkpoints = not settings.backup.url
        self.box = Database(self.state_dir / "box.sqlite3", schema.BOX_MIGRATIONS, name="box", checkpoints=checkpoints)
        self.tenants = TenantPool(
            self.state_dir / "tenants",
            schema.TENANT_MIGRATIONS,
            max_open=settings.storage.max_open_tenants,
            idle_seconds=settings.storage.idle_seconds,
            readers=settings.storage.readers,
            checkpoints=checkpoints,
            workers=settings.storage.workers,
        )
        self.hasher = Hasher(settings.auth.hash_threads)
        #: domain -> business, one cache for every service (appliance.catalog).
        self.catalog = Catalog(self.box)
        #: Listener name -> [(address, port)] bound; client set-up tells these.
        self.listeners: dict[str, list[tuple[str, int]]] = {}
        #: The services every front end calls (``appliance.services``).
        self.core = Services(settings, self.box, self.tenants, self.state_dir, self.catalog, self.certificate_files,
                             self.listeners)
        # The settings' plans seed the box's (the box's own, once there, win).
        self.core.plans.seed()
        #: The same, as the operator's verbs of old (``appliance.provisioning``).
        self.provisioning = Provisioning(self.core)
        #: Every Prometheus metric (``appliance.metrics``), one registry.
        self.metrics = Metrics(self)
        self.auth = Authenticator.from_settings(settings, self.catalog, self.tenants, self.hasher, self.metrics)
        self.loop_lag = LoopLag(observe=self.metrics.loop_lag.observe)
        self.mail_events = MailEvents()
        #: Content scoring and learning by rspamd (``appliance.spam``); off
        #: unless ``[rspamd] url`` is set.
        self.spam = SpamFilter(settings.rspamd, metrics=self.metrics)
        #: ``appliance check`` and the operators' status page (``appliance.services.boxstatus``).
        self.box_status = BoxStatus(self)
        #: Messages and web requests counted for billing, written in batches.
        self.usage_meter = UsageMeter(self.core.usage, settings.usage.flush_seconds)
        #: (seconds since the least recently shipped database last shipped,
        #: or None when one has never shipped or Litestream is not running;
        #: how many are late), read by the backup watch; None: not read yet.
        self.backup_lag: tuple[float | None, int] | None = None
        #: Every business's DNS data, read once per generation (``appliance.dnsdata``).
        self.dns_data = dnsdata.SharedRead()
        #: The submission rules (:class:`appliance.submission.Submission`),
        #: set by the SMTP service, which owns the router, signer and queue.
        self.submission = None
        self.loop: asyncio.AbstractEventLoop | None = None
        #: Set when a change is made in this process: the watcher looks at once.
        self._look_now = asyncio.Event()
        #: The protocol services started (:mod:`appliance.startup`).
        self.running = Running()
        self._watchers: list[Callable[[], Awaitable[None] | None]] = []
        self._tasks: list[asyncio.Task] = []
        self._certificates: Selector | None = None
        self.generation = 0

    # -- TLS ---------------------------------------------------------------

    def certificate_files(self) -> tuple[Path, Path]:
        """The box certificate and key (configured, or self-signed)."""
        if self.settings.tls.cert_file:
            return Path(self.settings.tls.cert_file), Path(self.settings.tls.key_file)
        return tls.self_signed(self.state_dir / "tls", self.settings.box.hostname)

    def certificates(self) -> Selector:
        """The :class:`appliance.certs.sni.Selector` every TLS listener
        serves from: the certificates ACME issued, chosen by server name,
        and the box certificate (:meth:`certificate_files`) for the rest."""
        if self._certificates is None:
            from .certs.sni import Selector

            def fallback() -> tuple[bytes, bytes]:
                cert_file, key_file = self.certificate_files()
                return cert_file.read_bytes(), key_file.read_bytes()

            self._certificates = Selector(fallback, self.settings.box.hostname)
        return self._certificates

    def tls_context(self) -> ssl.SSLContext:
        """The stdlib server context for every listener (SMTPS, STARTTLS):
        TLS 1.2+, the certificate for the name the client asks (SNI)."""
        return self.certificates().stdlib_context()

    # -- services ----------------------------------------------------------

    def add_listener(self, name: str, host: str, port: int) -> None:
        """Record a bound listener (written to ``<state>/run/listeners.json``)."""
        self.listeners.setdefault(name, []).append((host, port))

    def on_change(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """Call ``callback`` on the loop whenever the catalog or a directory changes."""
        self._watchers.append(callback)

    async def start(self, service_names: Iterable[str] = STEPS) -> None:
        """Start the services named (all of them by default, in the order of
        :mod:`appliance.startup`); raises if any cannot bind, after stopping
        those already started."""
        self.loop = asyncio.get_running_loop()
        self.core.stores.on_changed = self._changed_here
        self.loop_lag.start()
        self.generation = await self.box.read("generation", boxdb.generation)
        await self.catalog.refresh()
        # The brand is read before anything serves: the pages, IMAP's ID
        # and the notices the box writes then find it in memory.
        await asyncio.to_thread(self.core.brand.current)
        # The CLI may change it: read it again whenever the box changed.
        self.on_change(lambda: asyncio.to_thread(self.core.brand.refresh))
        try:
            for name in service_names:
                await start_step(self, self.running, name)
                log.info("%s started", name)
        except BaseException:
            await self.stop()
            raise
        self._write_listeners()
        # Starting read every business once (DNS, queues, certificates).
        await asyncio.to_thread(release_memory)
        self._tasks.append(self.loop.create_task(self._watch(), name="watch-changes"))
        self._tasks.append(self.loop.create_task(self._evict(), name="evict-idle"))
        self._tasks.append(self.loop.create_task(self._vacation_dates(), name="vacation-dates"))
        self._tasks.append(self.loop.create_task(self._moved_away(), name="moved-away"))
        self._tasks.append(self.loop.create_task(self.usage_meter.run(), name="usage-records"))
        if self.settings.backup.url:
            self._tasks.append(self.loop.create_task(self._watch_backups(), name="backup-lag"))

    def _write_listeners(self) -> None:
        run = self.state_dir / "run"
        run.mkdir(exist_ok=True)
        tmp = run / f"listeners.json.{os.getpid()}"
        tmp.write_text(json.dumps({"pid": os.getpid(), "listeners": self.listeners}, indent=2))
        os.replace(tmp, run / "listeners.json")

    def _changed_here(self) -> None:
        # Stores.changed in this process (a panel or API request): look now.
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._look_now.set)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            try:
                await asyncio.wait_for(self._look_now.wait(), WATCH_SECONDS)
            except asyncio.TimeoutError:
                pass
            # A second between looks, as when it only polled: a burst of
            # changes (a panel session, a test run) is one reload, not one
            # per change; a lone change is seen at once.
            wait = WATCH_SECONDS - (loop.time() - last)
            if wait > 0:
                await asyncio.sleep(wait)
            self._look_now.clear()
            await self._look()
            last = loop.time()

    async def _look(self) -> None:
        """Reload what depends on the box generation if it moved."""
        try:
            current = await self.box.read("generation", boxdb.generation)
        except Exception:  # noqa: BLE001 - keep watching
            log.exception("cannot read the box generation")
            return
        if current == self.generation:
            return
        self.generation = current
        try:
            # First, so every watcher below sees the new catalog.
            await self.catalog.refresh()
        except Exception:  # noqa: BLE001 - the next change retries
            log.exception("cannot reload the catalog")
        try:
            # A business removed, imported or restored by the CLI: stop
            # writing to the file its path no longer names.
            await asyncio.to_thread(self.tenants.close_replaced)
        except Exception:  # noqa: BLE001 - the next change retries
            log.exception("cannot close replaced business files")
        for callback in list(self._watchers):
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - one watcher must not stop the others
                log.exception("change watcher %r failed", callback)

    async def _evict(self) -> None:
        # A file idle for idle_seconds is closed within half that again.
        every = min(EVICT_SECONDS, max(0.5, self.settings.storage.idle_seconds / 2))
        while True:
            await asyncio.sleep(every)
            closed = await asyncio.to_thread(self.tenants.evict_idle)
            if closed:
                log.info("closed %d idle business files", closed)
                await asyncio.to_thread(release_memory)

    async def _watch_backups(self) -> None:
        # What the metrics export of the replica: read from Litestream's
        # socket off the loop every so often, never at scrape time.
        while True:
            try:
                status = await asyncio.to_thread(self.core.backups.status)
                ages = [d.age_seconds for d in status.databases]
                self.backup_lag = (None if not status.running or any(a is None for a in ages)
                                   else max(ages, default=0.0), len(status.warnings))
            except Exception:  # noqa: BLE001 - try again at the next round
                log.exception("cannot read the backup status")
            await asyncio.sleep(BACKUP_LAG_SECONDS)

    async def _vacation_dates(self) -> None:
        # The Sieve we run has no "date" extension: the panel's scripts carry
        # a vacation reply only between its dates (appliance.sieve.panelscript).
        while True:
            try:
                changed = await asyncio.to_thread(self.core.sieve.refresh_vacations)
                if changed:
                    log.info("turned %d vacation replies on or off by their dates", changed)
            except Exception:  # noqa: BLE001 - try again at the next round
                log.exception("cannot refresh vacation replies")
            await asyncio.sleep(VACATION_DATES_SECONDS)

    async def _moved_away(self) -> None:
        # A business that moved to another box is kept (frozen: mail 451,
        # DAV and panel redirected) for [fleet] grace_days, then removed.
        while True:
            try:
                for path in await asyncio.to_thread(self.core.moves.expire):
                    log.info("business moved away past its grace period; its file is %s", path)
            except Exception:  # noqa: BLE001 - try again at the next round
                log.exception("cannot remove businesses that moved away")
            await asyncio.sleep(MOVED_AWAY_SECONDS)

    async def stop(self) -> None:
        """Stop services in reverse order, then close every database."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        for name, service in reversed(self.running.started()):
            try:
                result = service.stop()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - stop the rest regardless
                log.exception("%s did not stop cleanly", name)
        self.running.clear()
        try:
            # After the listeners stopped: nothing counts any more.
            await self.usage_meter.flush()
        except Exception:  # noqa: BLE001 - closing the databases matters more
            log.exception("cannot write the last usage counts")
        (self.state_dir / "run" / "listeners.json").unlink(missing_ok=True)
        await self.loop_lag.stop()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Close the stores (what the CLI calls when it is done)."""
        self.tenants.close_all()
        self.box.close()
        self.hasher.close()
        self.spam.close()
        self.box_status.close()
