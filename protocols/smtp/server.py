"""Our aiosmtpd ``SMTP`` subclass: one instance per connection.

What it changes in aiosmtpd's engine, and why:

* DATA is read by :func:`protocols.smtp.data.read_data` (smuggling-safe end
  of data, bare line ends normalised, line, header and size limits).
* Commands and error replies per session are counted; past the limits the
  session is closed with ``421`` (RFC 5321 section 4.3.2 allows it).
* AUTH PLAIN and LOGIN check the password with ``app.auth.login`` without
  blocking the loop (aiosmtpd's ``authenticator`` hook is synchronous).
* Implicit TLS (port 465): the listener's transport is TLS from the first
  byte, but aiosmtpd only knows of TLS it started itself (STARTTLS), so it
  would refuse AUTH (upstream issues #274, #281). The 465 server is built
  with ``auth_require_tls=False`` and no STARTTLS context instead, which is
  right because nothing on it is ever in clear text.
* The MX never offers or accepts AUTH.
* The engine is set up either by aiosmtpd's documented constructor
  (``SMTP.__init__`` with its keyword arguments), or - on the pinned
  aiosmtpd release only (:data:`PINNED_AIOSMTPD`) - by
  :meth:`Server._fast_engine`, which sets the same state without the
  per-connection ``inspect.getmembers`` of the server and the handler
  (measured: 103 us instead of 355 us per connection, a fifth of the
  loop's time in the benchmark's one-message sessions). It uses one
  private name, ``_AuthMechAttr``; a test fails on any other aiosmtpd
  release and another checks that both paths leave the same state, so an
  upgrade is a deliberate step. Any other release runs the documented
  constructor. (``MISSING``, which ``challenge_auth`` returns when the
  client cancels, is public: it is in ``aiosmtpd.smtp.__all__``.)
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
import re
import ssl
import types
from dataclasses import dataclass
from typing import Any

import aiosmtpd
from aiosmtpd.smtp import MISSING, SMTP, AuthResult

from appliance.errors import AuthFailed, Suspended
from storage.errors import Frozen

from . import replies
from .data import read_data

log = logging.getLogger(__name__)

IDENT = "ESMTP"

#: The aiosmtpd release :meth:`Server._fast_engine` mirrors (setup.cfg pins it).
PINNED_AIOSMTPD = "1.4.6"
#: Whether the fast set-up runs (only on the pinned release).
FAST_ENGINE = aiosmtpd.__version__ == PINNED_AIOSMTPD
AUTH_MECHANISMS = ("LOGIN", "PLAIN")


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int
    max_recipients: int
    max_line_bytes: int
    max_header_bytes: int
    max_commands: int
    max_errors: int
    timeout: float

    @classmethod
    def from_settings(cls, s: Any) -> "Limits":
        return cls(
            s.max_message_bytes, s.max_recipients, s.max_line_bytes, s.max_header_bytes,
            s.max_commands, s.max_errors, float(s.timeout),
        )


class Server(SMTP):
    """One SMTP connection on one of the three listeners.

    ``kind`` is ``"smtp"`` (MX), ``"submission"`` (587, STARTTLS required
    before AUTH and mail) or ``"submissions"`` (465, implicit TLS).
    """

    def __init__(
        self,
        handler: Any,
        *,
        kind: str,
        limits: Limits,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        connections: set,
        loop: asyncio.AbstractEventLoop,
        fast: bool = FAST_ENGINE,
    ):
        self.kind = kind
        self.limits = limits
        # Sizes the stream buffer (set up by the engine): one line at most.
        self.line_length_limit = limits.max_line_bytes
        self.command_size_limit = min(limits.max_line_bytes, 2048)
        submission = kind != "smtp"
        engine = dict(
            loop=loop,
            hostname=hostname,
            tls_context=None if kind == "submissions" else tls_context,
            require_starttls=kind == "submission",
            auth_required=submission,
            auth_require_tls=kind != "submissions",
        )
        mechanisms = AUTH_MECHANISMS if submission else ()
        if fast:
            self._fast_engine(handler, auth_mechanisms=mechanisms, **engine)
        else:
            SMTP.__init__(
                self, handler, data_size_limit=limits.max_message_bytes, enable_SMTPUTF8=True, ident=IDENT,
                timeout=limits.timeout, auth_exclude_mechanism=[m for m in AUTH_MECHANISMS if m not in mechanisms],
                **engine,
            )
        # aiosmtpd keeps per-command size limits in a class-level dict that
        # EHLO grows; an instance dict keeps sessions independent.
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)
        self.implicit_tls = kind == "submissions"
        self._connections = connections
        self._commands = 0
        self._errors = 0
        self._closing = False
        self._in_ehlo = False
        #: True while a finished DATA is being verified and committed: a
        #: shutdown waits for it instead of cutting it off.
        self.busy = False
        # Each command counts against the session's limit: the methods are
        # wrapped once per class (functools.wraps is slow), bound per session.
        cls = type(self)
        self._smtp_methods = {name: types.MethodType(_counted_function(cls, name), self) for name in self._smtp_methods}

    def _fast_engine(
        self,
        handler: Any,
        *,
        loop: asyncio.AbstractEventLoop,
        hostname: str,
        tls_context: ssl.SSLContext | None,
        require_starttls: bool,
        auth_required: bool,
        auth_require_tls: bool,
        auth_mechanisms: tuple[str, ...],
    ) -> None:
        """What aiosmtpd 1.4.6's ``SMTP.__init__`` sets up, without its
        per-connection introspection (``inspect.getmembers`` of the server
        and the handler): the method tables are computed once per class and
        handler and reused. See the module doc for why and how it is kept
        honest.
        """
        from aiosmtpd.smtp import _AuthMechAttr, login_always_fail  # see module doc
        self.__ident__ = IDENT
        self.loop = loop
        asyncio.StreamReaderProtocol.__init__(
            self,
            asyncio.StreamReader(loop=loop, limit=self.line_length_limit),
            client_connected_cb=self._cb_client_connected,
            loop=loop,
        )
        self.event_handler = handler
        self.data_size_limit = self.limits.max_message_bytes
        self.enable_SMTPUTF8 = True
        self._decode_data = False
        self.hostname = hostname
        self.tls_context = tls_context
        self.require_starttls = tls_context and require_starttls
        self._timeout_duration = self.limits.timeout
        self._timeout_handle = None
        self._tls_handshake_okay = True
        self._tls_protocol = None
        self._original_transport = None
        self.session = None
        self.envelope = None
        self.transport = None
        self._handler_coroutine = None
        self._auth_require_tls = auth_require_tls
        self._proxy_timeout = None
        self._authenticator = None
        # Never called (our auth_ methods check passwords), set as 1.4.6 does.
        self._auth_callback = login_always_fail
        self._auth_required = auth_required
        self._enforce_call_limit = False
        tables = _TABLES.get(type(handler))
        if tables is None:
            tables = _TABLES[type(handler)] = _method_tables(type(self), type(handler))
        smtp_names, hook_names, ehlo_version = tables
        self._auth_methods = {
            name: _AuthMechAttr(getattr(self, f"auth_{name}"), True) for name in auth_mechanisms
        }
        self._handle_hooks = {name: getattr(handler, f"handle_{name}") for name in hook_names}
        self._ehlo_hook_ver = ehlo_version
        self._smtp_methods = dict.fromkeys(smtp_names)  # bound and counted in __init__

    # -- connection lifecycle ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self._connections.add(self)
            if self.implicit_tls:
                self.session.ssl = transport.get_extra_info("ssl_object")

    def connection_lost(self, error: Exception | None) -> None:
        self._connections.discard(self)
        super().connection_lost(error)

    @property
    def encrypted(self) -> bool:
        return self.implicit_tls or self._tls_protocol is not None

    def close(self, reply: str | None = None) -> None:
        """Send ``reply`` (a 421) if given, then close the connection."""
        if self._closing or self.transport is None:
            return
        self._closing = True
        if reply is not None:
            try:
                self._writer.write(reply.encode("ascii") + b"\r\n")
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass
        self.transport.close()

    # -- limits ----------------------------------------------------------------

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd moves its idle timer on every command (and we on every
        # chunk of DATA): a cancel and a new timer each time. Here a command
        # only moves the deadline; the one timer, when it fires early, is
        # set again for what is left.
        self._idle_deadline = self.loop.time() + (duration or self._timeout_duration)
        if self._timeout_handle is None:
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)

    def _idle_check(self) -> None:
        if self.loop.time() < self._idle_deadline:
            self._timeout_handle = self.loop.call_at(self._idle_deadline, self._idle_check)
            return
        self._timeout_cb()

    async def push(self, status: Any) -> None:
        if self._closing:
            return
        if isinstance(status, str) and not self._in_ehlo:
            status = with_enhanced_code(status)
        await super().push(status)
        code = status[:1] if isinstance(status, bytes) else status[:1].encode()
        head = status[:3] if isinstance(status, bytes) else status[:3].encode()
        if code in (b"4", b"5") and head != b"421":
            self._errors += 1
            if self._errors >= self.limits.max_errors:
                log.info("%r: %d errors, closing", self.session.peer, self._errors)
                self.close(replies.TOO_MANY_ERRORS)

    # -- commands ----------------------------------------------------------------

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # The common "<local@domain> PARAMS" form without quotes, routes or
        # comments is split here; everything else goes to aiosmtpd's full
        # RFC 5321 parser (which is what takes time under load).
        m = _SIMPLE_PATH.match(arg)
        if m:
            # The null reverse-path stays "<>", as aiosmtpd's parser gives it.
            return m.group(1) or "<>", arg[m.end():].strip()
        return super()._getaddr(arg)

    async def smtp_EHLO(self, hostname: str) -> None:
        # RFC 2034 section 3: the EHLO response carries no enhanced codes.
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_AUTH(self, arg: str) -> None:
        if self.kind == "smtp":
            await self.push(replies.NO_AUTH_HERE)
            return
        await super().smtp_AUTH(arg)

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            blob = _b64(args[1])
            if blob is None:
                await self.push("501 5.5.2 Cannot decode base64")
                return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await self.push("501 5.5.2 Cannot split the PLAIN response")
            return AuthResult(success=False, handled=True)
        # RFC 4616: an authorization identity other than the login is not
        # supported (no one may act for another user).
        authz, login, password = parts
        if authz and authz != login:
            return AuthResult(success=False, handled=False)
        return await self._login(login, password)

    async def auth_LOGIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) == 1:
            login = await self.challenge_auth(self.AuthLoginUsernameChallenge)
            if login is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            login = _b64(args[1])
            if login is None:
                await self.push("501 5.5.2 Cannot decode base64")
                return AuthResult(success=False, handled=True)
        password = await self.challenge_auth(self.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        return await self._login(login, password)

    async def _login(self, login: bytes, password: bytes) -> AuthResult:
        try:
            address = login.decode("utf-8")
            secret = password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False)
        peer = self.session.peer[0] if self.session.peer else "-"
        try:
            principal = await self.event_handler.login(address, secret, peer)
        except AuthFailed:
            return AuthResult(success=False, handled=False)
        except (Suspended, Frozen):
            # Frozen: moved to another box; the client retries and finds it.
            return AuthResult(success=False, handled=False, message=replies.AUTH_TEMPFAIL)
        return AuthResult(success=True, auth_data=principal)

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        result = await read_data(
            self._reader,
            max_bytes=self.limits.max_message_bytes,
            max_line=self.limits.max_line_bytes,
            max_header=self.limits.max_header_bytes,
            progress=self._reset_timeout,
        )
        self._reset_timeout()
        if result.error is not None:
            self._set_post_data_state()
            await self.push(result.error.value)
            return
        if result.normalised:
            log.info("%r: normalised bare CR/LF in %d lines", self.session.peer, result.normalised)
        self.envelope.content = result.content
        self.envelope.original_content = result.content
        self.busy = True
        try:
            status = await self._call_handler_hook("DATA")
        finally:
            self.busy = False
        self._set_post_data_state()
        await self.push(replies.OK_DATA if status is MISSING else status)


_ENHANCED = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}(?:\s|$)")


def with_enhanced_code(status: str) -> str:
    """``status`` with an RFC 3463 code if aiosmtpd's own text lacks one.

    RFC 2034 section 3: once ENHANCEDSTATUSCODES is advertised every 2xx,
    4xx and 5xx reply but the greeting and the EHLO response carries one.
    """
    if len(status) < 4 or status[0] not in "245" or _ENHANCED.match(status) or status.startswith("220"):
        return status
    default = {"2": "2.0.0", "4": "4.0.0", "5": "5.5.0"}[status[0]]
    if status.startswith("530"):
        default = "5.7.0"
    return f"{status[:4]}{default} {status[4:]}"


_SIMPLE_PATH = re.compile(r"<([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+|)>(?=\s|$)")

#: handler class -> (smtp_ command names, handle_ hook names, EHLO hook kind)
_TABLES: dict[type, tuple[tuple[str, ...], tuple[str, ...], str | None]] = {}
_COUNTED: dict[tuple[type, str], Any] = {}


def _counted_function(cls: type, name: str) -> Any:
    """``cls.smtp_<name>`` counting each call against the session's
    command limit (closing with ``421`` past it); made once per class."""
    key = (cls, name)
    found = _COUNTED.get(key)
    if found is not None:
        return found
    method = getattr(cls, f"smtp_{name}")

    @functools.wraps(method)  # keeps aiosmtpd's __smtp_syntax__ for HELP
    async def counted(self: Server, arg: Any) -> None:
        self._commands += 1
        if self._commands > self.limits.max_commands:
            log.info("%r: over %d commands, closing", self.session.peer, self.limits.max_commands)
            self.close(replies.TOO_MANY_COMMANDS)
            return
        await method(self, arg)

    _COUNTED[key] = counted
    return counted


def _method_tables(server: type, handler: type) -> tuple[tuple[str, ...], tuple[str, ...], str | None]:
    smtp_names = tuple(m[5:] for m in dir(server) if m.startswith("smtp_"))
    hook_names = tuple(m[7:] for m in dir(handler) if m.startswith("handle_"))
    ehlo = None
    if "EHLO" in hook_names:
        # aiosmtpd's "new" EHLO hook takes (server, session, envelope, hostname, responses).
        ehlo = "new" if len(inspect.signature(getattr(handler, "handle_EHLO")).parameters) == 6 else "old"
    return smtp_names, hook_names, ehlo


def _b64(text: str) -> bytes | None:
    import base64
    import binascii

    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
