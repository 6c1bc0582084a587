"""Which certificate a TLS connection gets, chosen by the server name the
client sent (SNI, RFC 6066 section 3).

One :class:`Selector` per daemon holds every certificate issued (the box's
and each business's) and the fallback (``[tls]`` or self-signed). A name
gets the certificate that holds it exactly, else the one holding the
wildcard of its parent (``*.example.com`` for ``www.example.com``, one label
only, RFC 6125 section 6.4.3), else the box certificate. A client that sends
no name gets the box certificate.

Both TLS stacks the daemon uses switch contexts from a callback during the
handshake: the stdlib's ``SSLContext.sni_callback`` (aiosmtpd: SMTPS and
SMTP STARTTLS) and pyOpenSSL's ``set_tlsext_servername_callback`` (Twisted:
HTTPS, IMAPS, IMAP STARTTLS). :meth:`Selector.replace` swaps the whole set
at once; connections made after it get the new certificates, without a
restart. Contexts are built on first use of a certificate and kept until it
is replaced.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from appliance import tls

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Held:
    """One certificate the box holds: its names, chain and key (PEM)."""

    key: str
    names: tuple[str, ...]
    chain_pem: bytes
    key_pem: bytes


@dataclass
class _Contexts:
    held: Held
    stdlib: ssl.SSLContext | None = None
    openssl: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def std(self) -> ssl.SSLContext:
        with self.lock:
            if self.stdlib is None:
                self.stdlib = tls.context_from_pem(self.held.chain_pem, self.held.key_pem)
            return self.stdlib

    def ossl(self) -> Any:
        with self.lock:
            if self.openssl is None:
                self.openssl = tls.openssl_context(self.held.chain_pem, self.held.key_pem)
            return self.openssl


class Selector:
    """The certificates by name and the contexts that serve them. See module doc.

    ``fallback`` returns the ``(chain_pem, key_pem)`` of the box certificate
    used when ACME has issued none for the box host name.
    """

    def __init__(self, fallback: Callable[[], tuple[bytes, bytes]], box_name: str):
        self._fallback = fallback
        self.box_name = box_name
        self._by_name: dict[str, _Contexts] = {}
        self._default: _Contexts | None = None
        self._front: ssl.SSLContext | None = None
        self._front_default: _Contexts | None = None
        self._lock = threading.Lock()
        self.generation = 0

    # -- the set ---------------------------------------------------------

    def replace(self, held: Iterable[Held]) -> None:
        """Serve exactly ``held`` from the next handshake on.

        Contexts of certificates that did not change are kept."""
        old = {c.held: c for c in self._by_name.values()}
        if self._default is not None:
            old.setdefault(self._default.held, self._default)
        by_name: dict[str, _Contexts] = {}
        default = None
        for item in held:
            contexts = old.get(item) or _Contexts(item)
            for name in item.names:
                by_name.setdefault(name.lower(), contexts)
            if item.key == self.box_name:
                default = contexts
        with self._lock:
            self._by_name = by_name
            self._default = default or self._fallback_contexts()
            self.generation += 1
        self._refresh_front()

    def _fallback_contexts(self) -> _Contexts:
        current = self._default
        if current is not None and current.held.key == "":
            return current
        chain, key = self._fallback()
        return _Contexts(Held("", (), chain, key))

    def default(self) -> _Contexts:
        with self._lock:
            if self._default is None:
                self._default = self._fallback_contexts()
            return self._default

    def lookup(self, server_name: str | None) -> _Contexts:
        """The contexts for ``server_name`` (exact, wildcard, then default)."""
        found = self._issued_for(server_name) if server_name else None
        return found if found is not None else self.default()

    def issued(self, server_name: str) -> bool:
        """Whether a certificate the CA issued covers ``server_name`` (so
        plain HTTP may be redirected to HTTPS for it)."""
        return self._issued_for(server_name) is not None

    def _issued_for(self, server_name: str) -> _Contexts | None:
        name = server_name.lower().rstrip(".")
        by_name = self._by_name
        found = by_name.get(name)
        if found is None and "." in name:
            found = by_name.get("*." + name.split(".", 1)[1])
        return found

    def names(self) -> dict[str, str]:
        """``{name: certificate key}`` as served now (for diagnostics)."""
        return {name: c.held.key for name, c in self._by_name.items()}

    def held_chains(self) -> list[tuple[str, bytes]]:
        """``(certificate key, PEM chain)`` of every certificate served now,
        the box certificate included (key "" when it is the configured or
        self-signed one)."""
        served = {id(c): c for c in self._by_name.values()}
        default = self.default()
        served[id(default)] = default
        return [(c.held.key, c.held.chain_pem) for c in served.values()]

    # -- stdlib ssl (aiosmtpd) -------------------------------------------

    def stdlib_context(self) -> ssl.SSLContext:
        """The context to give listeners: it serves the box certificate and
        switches to the right one when the client names a server.

        The object stays the same for the daemon's life (aiosmtpd keeps
        it); :meth:`replace` reloads its own certificate when the box's
        changes, for clients that send no name.
        """
        with self._lock:
            if self._front is not None:
                return self._front
        default = self.default()
        front = tls.context_from_pem(default.held.chain_pem, default.held.key_pem)
        front.sni_callback = self._sni_stdlib
        with self._lock:
            if self._front is None:
                self._front, self._front_default = front, default
            return self._front

    def _refresh_front(self) -> None:
        default = self.default()
        if self._front is not None and self._front_default is not default:
            tls.load_pem(self._front, default.held.chain_pem, default.held.key_pem)
            self._front_default = default

    def _sni_stdlib(self, sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        try:
            sslobj.context = self.lookup(server_name).std()
        except Exception:  # noqa: BLE001 - a bad certificate must not kill the listener
            log.exception("no TLS context for server name %r; serving the box certificate", server_name)

    # -- pyOpenSSL (Twisted) -----------------------------------------------

    def twisted_factory(self) -> "OpenSSLContextFactory":
        return OpenSSLContextFactory(self)


def _twisted_interfaces(cls: type) -> type:
    from twisted.internet.interfaces import IOpenSSLContextFactory, IOpenSSLServerConnectionCreator
    from zope.interface import implementer

    return implementer(IOpenSSLServerConnectionCreator, IOpenSSLContextFactory)(cls)


@_twisted_interfaces
class OpenSSLContextFactory:
    """What Twisted's TLS listeners and ``startTLS`` take: each connection
    starts on the box certificate's context, whose server-name callback
    switches to the right certificate."""

    def __init__(self, selector: Selector):
        self.selector = selector
        self._front: tuple[_Contexts, Any] | None = None

    def getContext(self) -> Any:  # noqa: N802 - Twisted's interface name
        default = self.selector.default()
        built = self._front
        if built is None or built[0] is not default:
            front = tls.openssl_context(default.held.chain_pem, default.held.key_pem)
            front.set_tlsext_servername_callback(self._sni)
            built = self._front = (default, front)
        return built[1]

    def serverConnectionForTLS(self, protocol: Any) -> Any:  # noqa: N802 - Twisted's interface name
        from OpenSSL.SSL import Connection

        return Connection(self.getContext(), None)

    def _sni(self, connection: Any) -> None:
        raw = connection.get_servername()
        if not raw:
            return
        try:
            name = raw.decode("ascii")
            connection.set_context(self.selector.lookup(name).ossl())
        except Exception:  # noqa: BLE001 - fall back to the box certificate
            log.exception("no TLS context for server name %r; serving the box certificate", raw)
