"""Twisted on the shared asyncio loop: installing the reactor, binding
listeners, and awaiting Deferreds.

The reactor must be installed on the daemon's loop before anything imports
``twisted.internet.reactor``; :func:`install_reactor` does that once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

log = logging.getLogger(__name__)


def install_reactor(loop: asyncio.AbstractEventLoop) -> Any:
    """Install Twisted's asyncio reactor on ``loop`` (idempotent) and return it."""
    import sys

    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        if getattr(reactor, "_asyncioEventloop", None) is not loop:
            raise RuntimeError("a Twisted reactor is already installed on another loop")
        return reactor
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    from twisted.internet import reactor
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver()], redirectStandardIO=False)
    # Fires the reactor's startup triggers (thread pool and the like)
    # without taking over the loop or the signal handlers.
    reactor.startRunning(installSignalHandlers=False)
    return reactor


def shutdown_reactor(reactor: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Stop the reactor and close ``loop``: the reactor runs its shutdown
    triggers and then stops the loop itself; a 5 s timer is a backstop so
    exit never hangs on it."""
    reactor.stop()
    guard = loop.call_later(5, loop.stop)
    loop.run_forever()
    guard.cancel()
    loop.close()


def listen_tcp(app: Any, name: str, factory: Any, port: int, addresses: Iterable[str], *, tls: Any = None) -> list:
    """Bind ``factory`` on each address; records bound ports with ``app``.

    ``tls`` is a Twisted context factory for implicit TLS, or None.
    """
    from twisted.internet import reactor

    ports = []
    try:
        for host in addresses:
            if tls is not None:
                listening = reactor.listenSSL(port, factory, tls, interface=host)
            else:
                listening = reactor.listenTCP(port, factory, interface=host)
            ports.append(listening)
            app.add_listener(name, host, listening.getHost().port)
    except Exception:
        for listening in ports:
            listening.stopListening()
        raise
    return ports


async def stop_ports(ports: Iterable[Any]) -> None:
    """Stop listening on every port and wait until they are closed."""
    for listening in ports:
        result = listening.stopListening()
        if result is not None:
            await result.asFuture(asyncio.get_running_loop())


def tls_options(app: Any) -> Any:
    """Twisted TLS options for implicit TLS and STARTTLS: TLS 1.2 and newer,
    the certificate for the server name the client asks (SNI), the box
    certificate otherwise (:mod:`appliance.certs.sni`)."""
    return app.certificates().twisted_factory()
