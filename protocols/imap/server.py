"""One IMAP connection: :class:`ImapServer`, our subclass of Twisted's
``IMAP4Server``.

From Twisted we keep the line framing (``LineReceiver``), the idle timer
(``TimeoutMixin``) and the transport's STARTTLS; the command reader, the
argument parser (:mod:`.syntax`) and every command are ours, because the
inherited ones have the defects listed below, each with a regression test
in ``tests/protocols/imap``:

* Commands pipelined after STARTTLS in the same packet ran inside the TLS
  session (the CVE-2011-0411 class). The buffer is discarded when STARTTLS
  is read, and nothing more is read until the handshake starts.
* SELECT lacked UIDNEXT, PERMANENTFLAGS and UNSEEN; LIST printed message
  flags as mailbox attributes; error paths mixed str and bytes, so APPEND
  or COPY to a missing mailbox crashed instead of answering ``NO
  [TRYCREATE]``.
* A backend answering asynchronously broke pipelining. Here every command
  is queued and one task runs them strictly in order, awaiting storage work
  done in threads; a client that pipelines too far is paused.
* Unbounded parsing and buffering: lines, literals (APPEND spooled to /tmp
  outside any quota), nesting, sequence sets. Every one has a limit.

Failures become tagged replies in one place (:mod:`.replies`); the
commands themselves live in :mod:`.mailboxes` and :mod:`.messages`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import collections
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from twisted.mail import imap4

from storage import mail as maildb

from . import fetch as fetching
from . import replies
from .mailboxes import MailboxCommands, Selected
from .messages import MessageCommands
from .replies import No
from .syntax import Bad, Literal, SequenceSet, atom, text, tokens

log = logging.getLogger(__name__)

_LITERAL = re.compile(rb"\{(\d{1,10})(\+?)\}$")
#: A tag: ASTRING-CHARs but "+" (RFC 3501 section 9).
_TAG = re.compile(rb"^[!#$&'\-,./0-9:;<=>?@A-Z\[\]^_`a-z|}~]{1,64}$")
#: Literal octets allowed in one command that is not APPEND.
MAX_COMMAND_LITERALS = 64 * 1024
#: Commands read ahead of the one running before reading is paused.
MAX_PIPELINE = 64

_ANY = frozenset({"unauth", "auth", "selected"})
_AUTHED = frozenset({"auth", "selected"})
_SELECTED = frozenset({"selected"})


@dataclass
class _Drain:
    """The transport's push producer: tells big FETCH replies when the
    write buffer is full, so a slow reader never makes us hold a whole
    mailbox in memory."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.event.set()

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self.event.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.event.set()

    def stopProducing(self) -> None:  # noqa: N802
        self.event.set()


class ImapServer(MailboxCommands, MessageCommands, imap4.IMAP4Server):
    """See module doc. ``service`` is the :class:`protocols.imap.ImapService`."""

    IDENT = b"IMAP4rev1 ready"

    def __init__(self, service: Any, *, implicit_tls: bool):
        super().__init__(chal={}, contextFactory=service.tls)
        self.service = service
        settings = service.settings
        self.MAX_LENGTH = settings.max_line_bytes
        self.timeOut = settings.login_timeout
        self.append_limit = settings.append_limit
        self.secure = implicit_tls
        self.state = "unauth"
        self.principal: Any = None
        self.selected: Selected | None = None
        self.condstore = False
        self.peer = "?"
        self._queue: collections.deque[list[bytes]] = collections.deque()
        self._worker: asyncio.Task | None = None
        self._parts: list[bytes] | None = None
        self._literal: bytearray | None = None
        self._literal_left = 0
        self._literal_total = 0
        self._discarding = False
        self._waiter: asyncio.Future | None = None
        self._paused = False
        self._idling = False
        self._unsubscribe: Callable[[], None] | None = None
        self._sync_lock = asyncio.Lock()
        self._drain = _Drain()
        self.closed = False

    # --- connection ---------------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802
        self.peer = getattr(self.transport.getPeer(), "host", "?")
        # Replies go out as several small writes (untagged lines, then the
        # tagged one); with Nagle each would wait for the client's delayed ACK.
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass
        self.service.connections.add(self)
        self.service.app.metrics.imap_sessions.inc()
        try:
            self.transport.registerProducer(self._drain, True)
        except (AttributeError, RuntimeError):
            pass
        self.setTimeout(self.timeOut)
        self._send(b"* OK [CAPABILITY " + self._capabilities() + b"] " + self.IDENT)

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        self.closed = True
        self.setTimeout(None)
        self.service.connections.discard(self)
        self.service.app.metrics.imap_sessions.dec()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.principal is not None:
            self.service.logged_out(self.principal.address)
            self.principal = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._drain.event.set()

    def timeoutConnection(self) -> None:  # noqa: N802
        self._send(b"* BYE idle for too long")
        self._close()

    def shutdown(self) -> None:
        if not self.closed:
            self._send(b"* BYE [UNAVAILABLE] server shutting down")
            self._close()

    def revoke(self) -> None:
        """The person may no longer log in (suspended, removed): end the
        session (RFC 3501 section 7.1.5: BYE, then the server closes)."""
        if not self.closed:
            self._send(b"* BYE [UNAVAILABLE] this account can no longer be used here")
            self._close()

    def _close(self) -> None:
        # With a producer registered, Twisted's TLS layer postpones its
        # shutdown until the producer goes; the session is over, so it goes.
        try:
            self.transport.unregisterProducer()
        except (AttributeError, RuntimeError):
            pass
        self.transport.loseConnection()

    def _send(self, line: bytes) -> None:
        if not self.closed:
            self.transport.write(line + b"\r\n")

    def _write(self, data: bytes) -> None:
        if not self.closed:
            self.transport.write(data)

    # --- reading commands ---------------------------------------------------

    def lineReceived(self, line: bytes) -> None:  # noqa: N802
        self.resetTimeout()
        if self._discarding:
            return
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            if not waiter.done():
                waiter.set_result(line)
            return
        if self._parts is None:
            self._parts = []
            self._literal_total = 0
        m = _LITERAL.search(line)
        if m is None:
            self._parts.append(line)
            parts, self._parts = self._parts, None
            self._enqueue(parts)
            return
        size, non_sync = int(m.group(1)), bool(m.group(2))
        self._parts.append(line[: m.start()])
        self._literal_total += size
        first = self._parts[0].split(None, 3)
        command = first[1].upper() if len(first) > 1 else b""
        is_append = command == b"APPEND"
        limit = self.append_limit if is_append else MAX_COMMAND_LITERALS
        if self._literal_total > limit:
            tag = first[0] if first else b"*"
            self._parts = None
            if non_sync:
                # The client sends the octets anyway (LITERAL+); reading
                # them just to throw away costs more than reconnecting.
                self._send(b"* BYE [TOOBIG] literal too large")
                self._close()
            else:
                self._send(tag + b" NO [TOOBIG] " + (b"message larger than APPENDLIMIT" if is_append else b"literal too large"))
            return
        self._literal = bytearray()
        self._literal_left = size
        if not non_sync:
            self._send(b"+ OK")
        if size == 0:
            self._end_literal(b"")
        else:
            self.setRawMode()

    def rawDataReceived(self, data: bytes) -> None:  # noqa: N802
        self.resetTimeout()
        assert self._literal is not None
        take = data[: self._literal_left]
        self._literal += take
        self._literal_left -= len(take)
        if self._literal_left == 0:
            self._end_literal(data[len(take) :])

    def _end_literal(self, rest: bytes) -> None:
        assert self._parts is not None and self._literal is not None
        self._parts.append(Literal(bytes(self._literal)))
        self._literal = None
        self.setLineMode(rest)

    def lineLengthExceeded(self, line: bytes) -> None:  # noqa: N802
        self._send(b"* BYE line too long")
        self._close()

    def _enqueue(self, parts: list[bytes]) -> None:
        head = parts[0].split(None, 2)
        if len(head) >= 2 and head[1].upper() == b"STARTTLS":
            # Whatever follows STARTTLS in the same read was sent in the
            # clear and must not run inside the TLS session.
            self._discarding = True
            self.clearLineBuffer()
        self._queue.append(parts)
        if len(self._queue) > MAX_PIPELINE and not self._paused:
            self._paused = True
            self.transport.pauseProducing()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.ensure_future(self._work())

    async def _work(self) -> None:
        while self._queue and not self.closed:
            parts = self._queue.popleft()
            if self._paused and len(self._queue) < MAX_PIPELINE // 2:
                self._paused = False
                self.transport.resumeProducing()
            await self._run(parts)

    async def _next_line(self) -> bytes:
        """The next line the client sends (IDLE's DONE, a SASL response).

        A line that came while the command was still busy (IDLE syncs the
        mailbox after its "+") or in the same read as the command was
        queued as if it were a command; it is the one we wait for.
        """
        if self._queue:
            return b"".join(self._queue.popleft())
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    # --- running a command --------------------------------------------------

    async def _run(self, parts: list[bytes]) -> None:
        first = parts[0]
        pieces = first.split(b" ", 2)
        tag = pieces[0]
        if not tag or not _TAG.match(tag):
            self._send(b"* BAD invalid tag")
            return
        if len(pieces) < 2 or not pieces[1]:
            self._send(tag + b" BAD missing command")
            return
        name = pieces[1].upper().decode("ascii", "replace")
        rest = [pieces[2] if len(pieces) > 2 else b""] + parts[1:]
        try:
            args = tokens(rest)
            uid = False
            if name == "UID":
                if not args or not isinstance(args[0], str):
                    raise Bad("UID needs a command")
                name, args, uid = args[0].upper(), args[1:], True
                if name not in ("FETCH", "STORE", "SEARCH", "COPY", "MOVE", "EXPUNGE"):
                    raise Bad("unknown UID command")
            handler = _COMMANDS.get(name)
            if handler is None:
                raise Bad("unknown command")
            states, method = handler
            if self.state not in states:
                raise Bad(f"{name} is not valid now")
            message = await method(self, tag, args, uid)
            if self.selected is not None and self.selected.dirty and (uid or name not in ("FETCH", "STORE", "SEARCH")):
                await self._sync()
            if message is not None:
                self._send(tag + b" OK " + message)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - one broken command must not end the session
            who = self.principal.address if self.principal else self.peer
            reply = replies.for_error(tag, e, who=who, command=name)
            if reply is None:
                log.exception("imap %s: %s failed", who, name)
                reply = tag + b" NO [SERVERBUG] internal error"
            self._send(reply)

    # --- helpers --------------------------------------------------------------

    def _capabilities(self) -> bytes:
        caps = ["IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
        if self.state == "unauth":
            if self.secure:
                caps.append("AUTH=PLAIN")
            else:
                caps += ["STARTTLS", "LOGINDISABLED"]
        else:
            caps += ["NAMESPACE", "UIDPLUS", "MOVE", "SPECIAL-USE", "UNSELECT", "QUOTA", "CHILDREN",
                     "CONDSTORE", f"APPENDLIMIT={self.append_limit}"]
        return " ".join(caps).encode("ascii")

    @property
    def handle(self) -> Any:
        return self.principal.tenant

    async def _read(self, desc: str, fn: Callable[[Any], Any]) -> Any:
        return await self.handle.read("imap " + desc, fn)

    async def _write_db(self, desc: str, fn: Callable[[Any], Any]) -> Any:
        return await self.handle.write("imap " + desc, fn)

    async def _write_selected(self, desc: str, fn: Callable[[Any], Any]) -> tuple[Any, bool]:
        """A write to the selected mailbox whose effects this session
        reports itself (STORE, EXPUNGE): when nothing else changed the
        mailbox since the session last caught up, its MODSEQ moves past the
        write, so the change is not echoed back as if another client made it.

        Returns ``fn``'s result and whether the session is caught up so
        (pass that to :meth:`_publish`)."""
        sel = self.selected

        def run(conn: Any) -> tuple[Any, int, int]:
            before = maildb.highest_modseq(conn, sel.id)
            result = fn(conn)
            return result, before, maildb.highest_modseq(conn, sel.id)

        result, before, after = await self._write_db(desc, run)
        caught_up = before == sel.modseq and self.selected is sel
        if caught_up:
            sel.modseq = after
        return result, caught_up

    def _publish(self, box: int, *, caught_up: bool = False) -> None:
        """Tell the user's sessions that ``box`` changed. With ``caught_up``
        (from :meth:`_write_selected`) this session is not marked to catch
        up with its own write: that would cost a read after every STORE
        only to learn that nothing else changed. A change by another
        session publishes on its own and marks it as before."""
        sel = self.selected
        own = caught_up and sel is not None and sel.id == box
        dirty = sel.dirty if own else False
        self.service.publish(self.principal.slug, self.principal.user_id, box)
        if own:
            sel.dirty = dirty

    def _on_event(self, box: int) -> None:
        sel = self.selected
        if sel is not None and sel.id == box:
            sel.dirty = True
            if self._idling:
                asyncio.ensure_future(self._sync())

    async def _sync(self) -> None:
        """Tell the client what other sessions (or deliveries) changed:
        EXPUNGE, EXISTS and FETCH FLAGS (RFC 3501 7.4.1, 7.3.1)."""
        async with self._sync_lock:
            sel = self.selected
            if sel is None:
                return
            sel.dirty = False
            last = sel.uids[-1] if sel.uids else 0
            changes = await self._read("changes", lambda c: maildb.changes(c, sel.id, sel.modseq, last))
            if changes is None or self.selected is not sel:
                return
            if changes.get("deleted"):
                self._send(b"* BYE the selected mailbox was deleted")
                self._close()
                return
            if changes["expunged"] is not None:
                gone = set(changes["expunged"])
            else:
                present = set(changes["uids"])
                gone = {u for u in sel.uids if u not in present}
            out: list[bytes] = []
            kept = sel.uids
            if gone:
                kept = []
                for uid in sel.uids:
                    if uid in gone:
                        out.append(b"* %d EXPUNGE" % (len(kept) + 1))
                    else:
                        kept.append(uid)
            new = changes["new"]
            sel.uids = kept + new
            if new:
                out.append(b"* %d EXISTS" % len(sel.uids))
            for uid, flags, modseq in changes["changed"]:
                if uid > last:
                    continue  # new: the client fetches it anyway
                index = bisect.bisect_left(sel.uids, uid)
                if index < len(sel.uids) and sel.uids[index] == uid:
                    extra = b" MODSEQ (%d)" % modseq if self.condstore else b""
                    out.append(b"* %d FETCH (UID %d FLAGS %s%s)" % (index + 1, uid, fetching.flags_list(flags), extra))
            sel.modseq = changes["highestmodseq"]
            if out:
                self._write(b"\r\n".join(out) + b"\r\n")

    def _indexes(self, args: list, uid: bool) -> list[int]:
        """0-based positions in the selected mailbox of a sequence set."""
        if not args:
            raise Bad("sequence set expected")
        seqset = SequenceSet(atom(args[0], "sequence set"))
        uids = self.selected.uids
        if uid:
            return seqset.uid_indexes(uids)
        return [n - 1 for n in seqset.sequence_numbers(uids)]

    def _expunged(self, gone: list[int]) -> None:
        """Send EXPUNGE for UIDs this session removed, and forget them."""
        sel = self.selected
        gone_set = set(gone)
        lines = []
        kept = []
        for uid in sel.uids:
            if uid in gone_set:
                lines.append(b"* %d EXPUNGE" % (len(kept) + 1))
            else:
                kept.append(uid)
        sel.uids = kept
        if lines:
            self._write(b"\r\n".join(lines) + b"\r\n")

    # --- any state --------------------------------------------------------------

    async def cmd_capability(self, tag: bytes, args: list, uid: bool) -> bytes:
        self._send(b"* CAPABILITY " + self._capabilities())
        return b"CAPABILITY completed"

    async def cmd_noop(self, tag: bytes, args: list, uid: bool) -> bytes:
        if self.selected is not None:
            self.selected.dirty = True
        return b"NOOP completed"

    async def cmd_logout(self, tag: bytes, args: list, uid: bool) -> None:
        self._send(b"* BYE logging out")
        self._send(tag + b" OK LOGOUT completed")
        self._close()
        self._queue.clear()
        return None

    async def cmd_id(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 1 or not (args[0] == "NIL" or isinstance(args[0], list)) or (isinstance(args[0], list) and len(args[0]) > 60):
            raise Bad("ID takes NIL or a list of up to 30 pairs")
        self._send(b"* ID " + _server_id(self.service.app.core.brand.current().name))
        return b"ID completed"

    # --- not authenticated ---------------------------------------------------

    async def cmd_starttls(self, tag: bytes, args: list, uid: bool) -> bytes | None:
        if self.secure:
            self._discarding = False
            raise Bad("TLS is already active")
        self._queue.clear()
        self._send(tag + b" OK begin TLS negotiation now")
        self.transport.startTLS(self.service.tls)
        self.secure = True
        self._discarding = False
        return None

    async def cmd_login(self, tag: bytes, args: list, uid: bool) -> bytes:
        if not self.secure:
            raise No("LOGIN needs TLS first (STARTTLS)", "PRIVACYREQUIRED")
        if len(args) != 2:
            raise Bad("LOGIN needs a user name and a password")
        return await self._login(text(args[0]), text(args[1]))

    async def cmd_authenticate(self, tag: bytes, args: list, uid: bool) -> bytes:
        if not args or atom(args[0], "mechanism").upper() != "PLAIN":
            raise No("only AUTHENTICATE PLAIN is offered", "CANNOT")
        if not self.secure:
            raise No("AUTHENTICATE needs TLS first (STARTTLS)", "PRIVACYREQUIRED")
        if len(args) > 2:
            raise Bad("too many arguments")
        if len(args) == 2:
            response = text(args[1])
        else:
            self._send(b"+ ")
            response = (await self._next_line()).strip()
        if response == b"*":
            raise Bad("authentication cancelled")
        if response == b"=":
            response = b""
        try:
            authz, authc, password = base64.b64decode(response, validate=True).split(b"\0")
        except (binascii.Error, ValueError):
            raise Bad("malformed PLAIN response") from None
        if authz and authz != authc:
            raise No("logging in as another user is not allowed", "AUTHORIZATIONFAILED")
        return await self._login(authc, password)

    async def _login(self, user: bytes, password: bytes) -> bytes:
        principal = await self.service.app.auth.login(
            user.decode("utf-8", "replace"), password.decode("utf-8", "replace"), protocol="imap", peer=self.peer
        )
        if not self.service.logged_in(principal.address):
            raise No("too many sessions for this user", "LIMIT")
        if self.closed:
            self.service.logged_out(principal.address)
            return b"logged in"
        self.principal = principal
        self.state = "auth"
        self.setTimeout(self.service.settings.idle_timeout)
        self._unsubscribe = self.service.subscribe(principal.slug, principal.user_id, self._on_event)
        return b"[CAPABILITY " + self._capabilities() + b"] logged in"

    # --- authenticated ---------------------------------------------------------

    async def cmd_enable(self, tag: bytes, args: list, uid: bool) -> bytes:
        if not args:
            raise Bad("ENABLE needs a capability")
        enabled = []
        for arg in args:
            if atom(arg, "capability").upper() == "CONDSTORE":
                self.condstore = True
                enabled.append(b"CONDSTORE")
        self._send(b"* ENABLED" + b"".join(b" " + e for e in enabled))
        return b"ENABLE completed"

    async def cmd_namespace(self, tag: bytes, args: list, uid: bool) -> bytes:
        self._send(b'* NAMESPACE (("" "/")) NIL NIL')
        return b"NAMESPACE completed"

    async def cmd_idle(self, tag: bytes, args: list, uid: bool) -> bytes:
        """RFC 2177: changes are pushed as they happen until DONE."""
        if args:
            raise Bad("IDLE takes no arguments")
        self._send(b"+ idling")
        self._idling = True
        self.service.app.metrics.imap_idle.inc()
        try:
            await self._sync_now()
            line = await self._next_line()
        finally:
            self._idling = False
            self.service.app.metrics.imap_idle.dec()
        if line.strip().upper() != b"DONE":
            raise Bad("expected DONE")
        return b"IDLE terminated"

    async def _sync_now(self) -> None:
        if self.selected is not None:
            self.selected.dirty = True
            await self._sync()


Handler = Callable[[ImapServer, bytes, list, bool], Awaitable[Any]]

_COMMANDS: dict[str, tuple[frozenset, Handler]] = {
    "CAPABILITY": (_ANY, ImapServer.cmd_capability),
    "NOOP": (_ANY, ImapServer.cmd_noop),
    "LOGOUT": (_ANY, ImapServer.cmd_logout),
    "ID": (_ANY, ImapServer.cmd_id),
    "STARTTLS": (frozenset({"unauth"}), ImapServer.cmd_starttls),
    "LOGIN": (frozenset({"unauth"}), ImapServer.cmd_login),
    "AUTHENTICATE": (frozenset({"unauth"}), ImapServer.cmd_authenticate),
    "ENABLE": (_AUTHED, ImapServer.cmd_enable),
    "NAMESPACE": (_AUTHED, ImapServer.cmd_namespace),
    "SELECT": (_AUTHED, ImapServer.cmd_select),
    "EXAMINE": (_AUTHED, ImapServer.cmd_examine),
    "CREATE": (_AUTHED, ImapServer.cmd_create),
    "DELETE": (_AUTHED, ImapServer.cmd_delete),
    "RENAME": (_AUTHED, ImapServer.cmd_rename),
    "SUBSCRIBE": (_AUTHED, ImapServer.cmd_subscribe),
    "UNSUBSCRIBE": (_AUTHED, ImapServer.cmd_unsubscribe),
    "LIST": (_AUTHED, ImapServer.cmd_list),
    "LSUB": (_AUTHED, ImapServer.cmd_lsub),
    "STATUS": (_AUTHED, ImapServer.cmd_status),
    "APPEND": (_AUTHED, ImapServer.cmd_append),
    "GETQUOTAROOT": (_AUTHED, ImapServer.cmd_getquotaroot),
    "GETQUOTA": (_AUTHED, ImapServer.cmd_getquota),
    "SETQUOTA": (_AUTHED, ImapServer.cmd_setquota),
    "IDLE": (_AUTHED, ImapServer.cmd_idle),
    "CHECK": (_SELECTED, ImapServer.cmd_check),
    "CLOSE": (_SELECTED, ImapServer.cmd_close),
    "UNSELECT": (_SELECTED, ImapServer.cmd_unselect),
    "EXPUNGE": (_SELECTED, ImapServer.cmd_expunge),
    "SEARCH": (_SELECTED, ImapServer.cmd_search),
    "FETCH": (_SELECTED, ImapServer.cmd_fetch),
    "STORE": (_SELECTED, ImapServer.cmd_store),
    "COPY": (_SELECTED, ImapServer.cmd_copy),
    "MOVE": (_SELECTED, ImapServer.cmd_move),
}


def _server_id(name: str) -> bytes:
    """The server's RFC 2971 ID parameters: the brand's name (a reseller's
    clients are not told what software runs the box), or NIL when the name
    cannot be a plain quoted string."""
    if name.isascii() and name.isprintable():
        return b'("name" "' + name.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'")'
    return b"NIL"
