"""``appliance serve``: one process, one asyncio loop, every protocol.

Startup order (DESIGN section 2): settings are already loaded and valid;
install Twisted's reactor on a new loop; open and migrate the box database;
import what the services need (:func:`appliance.startup.preload`, before
the loop runs, so no listener waits on it); bind every listener; freeze
the start-up heap out of the garbage collector's scans; then ``READY=1``
to systemd, and from then on
``WATCHDOG=1`` from the loop when the unit asks for a watchdog. SIGTERM (or
SIGINT) stops accepting, lets in-flight work finish, closes the databases
and exits 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path
from typing import Callable

from . import sdnotify
from .app import App
from .startup import preload
from .settings import Settings
from .twisted_glue import install_reactor, shutdown_reactor

log = logging.getLogger(__name__)


def serve(settings: Settings, state_dir: Path, *, on_ready: Callable[[App], None] | None = None) -> int:
    """Run the daemon until SIGTERM/SIGINT; returns the exit status."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    reactor = install_reactor(loop)
    from twisted.internet.error import CannotListenError
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    app = App(settings, state_dir)
    try:
        preload(app)
        try:
            loop.run_until_complete(app.start())
        except (OSError, CannotListenError) as exc:
            # A port in use or a privileged port without the capability:
            # say which, and exit non-zero so systemd does not claim success.
            log.error("cannot bind a listener: %s", exc)
            return 1
        where = ", ".join(f"{name} {host}:{port}" for name, binds in app.listeners.items() for host, port in binds)
        log.info("serving from %s: %s", state_dir, where or "no listeners")
        # What start-up built (modules, settings, zones, templates) lives
        # as long as the process: out of the collector's scans, so a full
        # collection under load walks only what came since. Each one holds
        # the loop (and the GIL) for its whole walk: tens of milliseconds
        # of CPU with the start-up heap in it, more on a busy machine.
        gc.freeze()
        sdnotify.notify("READY=1\nSTATUS=serving")
        watchdog = sdnotify.watchdog_seconds()
        pinger = loop.create_task(sdnotify.keep_alive(watchdog), name="watchdog") if watchdog else None
        if on_ready is not None:
            on_ready(app)
        loop.run_until_complete(stopping.wait())
        log.info("stopping")
        if pinger is not None:
            pinger.cancel()
        sdnotify.notify("STOPPING=1")
        loop.run_until_complete(app.stop())
        return 0
    finally:
        if not app.box.closed:
            app.close()
        shutdown_reactor(reactor, loop)
