"""Twisted on the shared asyncio loop: installing the reactor, binding
listeners (each behind a :class:`Guard`), and awaiting Deferreds.

The reactor must be installed on the daemon's loop before anything imports
``twisted.internet.reactor``; :func:`install_reactor` does that once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from twisted.internet import protocol
from twisted.internet.interfaces import IHandshakeListener, IProtocolNegotiationFactory
from twisted.protocols import policies
from zope.interface import alsoProvides, implementer

from .connlimit import SourceLimit, source_of

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Seconds a connection that is being closed after a final reply (a refusal,
#: a 400) may take to flush it before it is cut. A TLS close waits for the
#: peer's close_notify, which a client that is not reading never sends.
CLOSE_GRACE = 2.0


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


@dataclass(frozen=True)
class Guard:
    """What every connection of one protocol's listeners is held to.

    ``sources`` caps open connections per source address (a connection over
    the cap gets ``refusal``, then is closed); a TLS handshake, implicit or
    started later with ``startTLS`` (STARTTLS), must finish within
    ``handshake_seconds`` or the connection is cut.
    """

    sources: SourceLimit
    handshake_seconds: float
    refusal: bytes = b""


def close_after_reply(transport: Any, reply: bytes = b"", grace: float = CLOSE_GRACE) -> None:
    """Send ``reply`` (if any), stop reading and close; cut the connection
    if it is still open ``grace`` seconds later.

    Reading stops at once: a client that keeps sending (a body after a 413,
    bytes after a 400) is not read on, over TLS either, where a clean close
    would otherwise wait for the peer and decrypt everything it sends.
    """
    from twisted.internet import reactor

    if reply:
        transport.write(reply)
    try:
        transport.pauseProducing()
    except (AttributeError, RuntimeError):
        pass
    try:
        transport.unregisterProducer()
    except (AttributeError, RuntimeError):
        pass
    transport.loseConnection()
    reactor.callLater(grace, _abort, transport)


def _abort(transport: Any) -> None:
    if not getattr(transport, "disconnected", True):
        transport.abortConnection()


class _Refused(protocol.Protocol):
    """A connection over its source's limit: the refusal, then closed."""

    def __init__(self, refusal: bytes):
        self.refusal = refusal

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's interface
        close_after_reply(self.transport, self.refusal)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        pass


@implementer(IHandshakeListener)
class _Guarded(policies.ProtocolWrapper):
    """The wrapped protocol's transport: counts the connection against its
    source and times the TLS handshake (see :class:`Guard`)."""

    _timer: Any = None

    def __init__(self, factory: "GuardedFactory", wrapped: Any, source: str):
        super().__init__(factory, wrapped)
        self.source = source

    def makeConnection(self, transport: Any) -> None:  # noqa: N802
        if self.factory.implicit_tls:
            self._start_handshake_clock()
        super().makeConnection(transport)

    def startTLS(self, context: Any, normal: bool = True) -> None:  # noqa: N802 - ITLSTransport
        # STARTTLS: the handshake that starts now is bounded like an implicit one.
        self._start_handshake_clock()
        self.transport.startTLS(context, normal)

    def handshakeCompleted(self) -> None:  # noqa: N802 - IHandshakeListener
        self._stop_clock()
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def connectionLost(self, reason: Any = protocol.connectionDone) -> None:  # noqa: N802
        self._stop_clock()
        self.factory.guard.sources.release(self.source)
        super().connectionLost(reason)

    def _start_handshake_clock(self) -> None:
        from twisted.internet import reactor

        self._stop_clock()
        self._timer = reactor.callLater(self.factory.guard.handshake_seconds, self._handshake_expired)

    def _stop_clock(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _handshake_expired(self) -> None:
        self._timer = None
        log.info("%s: %s TLS handshake not finished within %gs, closed",
                 self.source, self.factory.guard.sources.protocol, self.factory.guard.handshake_seconds)
        self.transport.abortConnection()


class GuardedFactory(policies.WrappingFactory):
    """``wrapped``'s protocols behind a :class:`Guard`."""

    def __init__(self, wrapped: Any, guard: Guard, implicit_tls: bool):
        super().__init__(wrapped)
        self.guard = guard
        self.implicit_tls = implicit_tls
        if IProtocolNegotiationFactory.providedBy(wrapped):
            # The TLS layer asks the factory it wraps for the ALPN protocols.
            alsoProvides(self, IProtocolNegotiationFactory)

    def acceptableProtocols(self) -> list[bytes]:  # noqa: N802 - IProtocolNegotiationFactory
        return list(self.wrappedFactory.acceptableProtocols())

    def buildProtocol(self, addr: Any) -> Any:  # noqa: N802
        source = source_of(addr)
        if not self.guard.sources.acquire(source):
            # Over TLS the refusal waits for the handshake; CLOSE_GRACE cuts
            # a client that does not finish it.
            return _Refused(self.guard.refusal)
        try:
            wrapped = self.wrappedFactory.buildProtocol(addr)
        except BaseException:
            self.guard.sources.release(source)
            raise
        if wrapped is None:
            self.guard.sources.release(source)
            return None
        return _Guarded(self, wrapped, source)


def listen_tcp(
    app: App, name: str, factory: Any, port: int, addresses: Iterable[str], *, tls: Any = None, guard: Guard | None = None
) -> list:
    """Bind ``factory`` on each address; records bound ports with ``app``.

    ``tls`` is a Twisted context factory for implicit TLS, or None;
    ``guard`` the per-source limit and handshake bound its connections are
    held to (None only for the loopback-only metrics listener).
    """
    from twisted.internet import reactor

    if guard is not None:
        factory = GuardedFactory(factory, guard, implicit_tls=tls is not None)
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


def tls_options(app: App) -> Any:
    """Twisted TLS options for implicit TLS and STARTTLS: TLS 1.2 and newer,
    the certificate for the server name the client asks (SNI), the box
    certificate otherwise (:mod:`appliance.certs.sni`)."""
    return app.certificates().twisted_factory()
