"""One ManageSieve session (RFC 5804) on asyncio streams.

A thin adapter: commands are read and answered here, every rule is in
:class:`appliance.services.sieve.Scripts` (run in a thread: it blocks on
SQLite) and logins go through the one login checker (``app.auth.login``),
which throttles and writes the fail2ban line.

* AUTHENTICATE is refused before STARTTLS (RFC 5804 section 2.1 lets a
  server require it; IMAP here does the same); the SASL capability is
  empty until TLS is up.
* Strings are quoted or literals, ``{n+}`` or ``{n}`` (section 4: a client
  literal never waits for a continuation); a literal is bounded by
  ``[sieve] max_script_bytes`` (plus room for the command), a line by
  ``[managesieve] max_line_bytes``.
* A session waits at most ``login_timeout`` for the client before it has
  logged in, ``idle_timeout`` after.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from typing import TYPE_CHECKING, Any

from appliance.errors import AuthFailed, Conflict, InvalidInput, LimitExceeded, NotFound, Suspended
from appliance.services.sieve import Account, InvalidScript
from appliance.sieve import EXTENSIONS

if TYPE_CHECKING:
    from . import ManageSieveService

log = logging.getLogger(__name__)

IMPLEMENTATION = "appliance"
#: Literal bytes beyond the script limit that a command may carry (names).
LITERAL_SLACK = 4096
#: A too-large literal is read and thrown away up to this size; beyond, the session ends.
DISCARD_LIMIT = 16 * 1024 * 1024


class Bye(Exception):
    """End the session with this BYE text."""


class BadCommand(Exception):
    """A command that does not parse: answered NO, the session goes on."""


def quote(text: str) -> bytes:
    """A string as the server sends it: quoted when it can be, else a literal."""
    data = text.encode("utf-8")
    if len(data) <= 1024 and b"\r" not in data and b"\n" not in data and b"\0" not in data:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


class Session:
    def __init__(self, service: ManageSieveService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 source: str):
        self.service = service
        self.app = service.app
        self.reader = reader
        self.writer = writer
        self.source = source
        self.tls = False
        self.account: Account | None = None
        self.max_literal = self.app.settings.sieve.max_script_bytes + LITERAL_SLACK

    # -- wire ------------------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, kind: str, text: str = "", code: str = "") -> None:
        line = kind.encode()
        if code:
            line += b" (" + code.encode() + b")"
        if text:
            line += b" " + quote(text)
        await self.send(line + b"\r\n")

    async def capabilities(self) -> None:
        lines = [
            b'"IMPLEMENTATION" ' + quote(IMPLEMENTATION),
            b'"SASL" ' + quote("PLAIN" if self.tls else ""),
            b'"SIEVE" ' + quote(" ".join(EXTENSIONS)),
            b'"MAXREDIRECTS" ' + quote(str(self.app.settings.sieve.max_redirects)),
            b'"VERSION" "1.0"',
        ]
        if not self.tls and self.service.tls is not None:
            lines.append(b'"STARTTLS"')
        if self.account is not None:
            lines.append(b'"OWNER" ' + quote(self.account.address))
        await self.send(b"\r\n".join(lines) + b"\r\n")

    async def read_line(self) -> bytes:
        timeout = self.service.settings.idle_timeout if self.account else self.service.settings.login_timeout
        try:
            line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), timeout)
        except asyncio.TimeoutError:
            raise Bye("idle too long") from None
        except asyncio.LimitOverrunError:
            raise Bye("line too long") from None
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("client went away") from None
        return line[:-2]

    async def read_command(self) -> list[Any] | None:
        """The next command as ``[NAME, arg...]`` (strings str, numbers
        int), or None for an empty line."""
        out: list[Any] = []
        line = await self.read_line()
        if not line.strip():
            return None
        while True:
            literal = _tokens(line, out)
            if literal is None:
                return out
            if literal > self.max_literal:
                if literal > DISCARD_LIMIT:
                    raise Bye("literal too large")
                await self._discard(literal)
                await self.read_line()
                raise BadCommand("QUOTA/MAXSIZE", "script too large")
            try:
                data = await asyncio.wait_for(self.reader.readexactly(literal), self.service.settings.idle_timeout)
            except asyncio.TimeoutError:
                raise Bye("idle too long") from None
            except asyncio.IncompleteReadError:
                raise ConnectionResetError("client went away") from None
            out.append(_text(data))
            line = await self.read_line()

    async def _discard(self, size: int) -> None:
        while size > 0:
            chunk = await self.reader.read(min(size, 65536))
            if not chunk:
                raise ConnectionResetError("client went away")
            size -= len(chunk)

    # -- the session ----------------------------------------------------------

    async def run(self) -> None:
        try:
            await self.capabilities()
            await self.reply("OK", "ManageSieve ready")
            while True:
                try:
                    command = await self.read_command()
                except BadCommand as exc:
                    await self.reply("NO", exc.args[1] if len(exc.args) > 1 else str(exc),
                                     exc.args[0] if len(exc.args) > 1 else "")
                    continue
                if command is None:
                    continue
                if not await self.dispatch(command):
                    return
        except Bye as exc:
            await self._bye(str(exc))
        except (ConnectionError, ssl.SSLError):
            pass

    async def _bye(self, text: str) -> None:
        try:
            await self.reply("BYE", text)
        except (ConnectionError, ssl.SSLError):
            pass

    async def dispatch(self, command: list[Any]) -> bool:
        """Run one command; False ends the session."""
        name = command[0].upper() if isinstance(command[0], str) else ""
        args = command[1:]
        handler = _COMMANDS.get(name)
        if handler is None:
            await self.reply("NO", f"unknown command {name[:40]!r}")
            return True
        needs_login, method = handler
        if needs_login and self.account is None:
            await self.reply("NO", "log in first (AUTHENTICATE)")
            return True
        if not needs_login and self.account is not None and name in ("AUTHENTICATE", "STARTTLS"):
            await self.reply("NO", "already logged in")
            return True
        try:
            return await method(self, args)
        except BadCommand as exc:
            await self.reply("NO", str(exc))
        except InvalidScript as exc:
            await self.reply("NO", f"line {exc.line}: {exc.reason}")
        except NotFound as exc:
            await self.reply("NO", str(exc), "NONEXISTENT")
        except LimitExceeded as exc:
            await self.reply("NO", str(exc), "QUOTA")
        except (InvalidInput, Conflict) as exc:
            await self.reply("NO", str(exc))
        except Exception:  # noqa: BLE001 - one session's bug must not end others
            log.exception("%s: managesieve %s failed", self.source, name)
            await self.reply("NO", "internal error, try again later")
        return True

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # The services block on SQLite: never on the loop.
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- commands (RFC 5804 section 2) -------------------------------------

    async def cmd_capability(self, args: list) -> bool:
        await self.capabilities()
        await self.reply("OK", "Capability completed")
        return True

    async def cmd_noop(self, args: list) -> bool:
        if args and isinstance(args[0], str):
            # Section 2.11: the tag is echoed back.
            await self.send(b"OK (TAG " + quote(args[0]) + b') "Done"\r\n')
        else:
            await self.reply("OK", "Done")
        return True

    async def cmd_logout(self, args: list) -> bool:
        await self.reply("OK", "Logout completed")
        return False

    async def cmd_starttls(self, args: list) -> bool:
        if self.tls or self.service.tls is None:
            await self.reply("NO", "TLS is already on" if self.tls else "TLS is not available")
            return True
        if self.reader._buffer:  # type: ignore[attr-defined]
            # Anything sent after STARTTLS before the handshake would run
            # inside TLS (the CVE-2011-0411 class): refuse it.
            raise Bye("data after STARTTLS")
        await self.reply("OK", "Begin TLS negotiation")
        try:
            await self.writer.start_tls(self.service.tls, ssl_handshake_timeout=self.service.handshake_seconds)
        except (ssl.SSLError, asyncio.TimeoutError, ConnectionError, OSError) as exc:
            log.info("%s: managesieve STARTTLS handshake not finished: %s", self.source, exc or type(exc).__name__)
            raise ConnectionResetError("TLS failed") from None
        self.tls = True
        # Section 2.2: the capabilities again once TLS is up.
        await self.capabilities()
        await self.reply("OK", "TLS negotiation successful")
        return True

    async def cmd_authenticate(self, args: list) -> bool:
        if not self.tls:
            await self.reply("NO", "AUTHENTICATE needs TLS first (STARTTLS)", "ENCRYPT-NEEDED")
            return True
        if not args or not isinstance(args[0], str) or args[0].upper() != "PLAIN":
            await self.reply("NO", "only SASL PLAIN is offered")
            return True
        if len(args) > 1:
            response = args[1]
        else:
            # Section 2.1: an empty challenge, the client answers with a string.
            await self.send(b'""\r\n')
            line = await self.read_command()
            if not line or not isinstance(line[0], str):
                await self.reply("NO", "authentication cancelled")
                return True
            response = line[0]
        if response == "*":
            await self.reply("NO", "authentication cancelled")
            return True
        try:
            authzid, authcid, password = base64.b64decode(response, validate=True).decode("utf-8").split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            await self.reply("NO", "malformed SASL PLAIN response")
            return True
        if authzid and authzid.lower() != authcid.lower():
            await self.reply("NO", "acting as another user is not allowed")
            return True
        try:
            principal = await self.app.auth.login(authcid, password, protocol="managesieve", peer=self.source)
        except Suspended:
            await self.reply("NO", "account temporarily unavailable", "TRYLATER")
            return True
        except AuthFailed:
            await self.reply("NO", "authentication failed")
            return True
        self.account = Account(principal.tenant, principal.user_id, principal.address)
        log.info("%s: managesieve login %s", self.source, principal.address)
        await self.reply("OK", "Logged in")
        return True

    async def cmd_unauthenticate(self, args: list) -> bool:
        self.account = None
        await self.reply("OK", "Unauthenticate completed")
        return True

    async def cmd_havespace(self, args: list) -> bool:
        name, size = _args(args, str, int)
        await self.call(self.service.scripts.have_space, self.account, name, size)
        await self.reply("OK", "Putscript would succeed")
        return True

    async def cmd_putscript(self, args: list) -> bool:
        name, text = _args(args, str, str)
        await self.call(self.service.scripts.put, self.account, name, text, actor=self._actor())
        await self.reply("OK", "Putscript completed")
        return True

    async def cmd_checkscript(self, args: list) -> bool:
        (text,) = _args(args, str)
        await self.call(self.service.scripts.check, text)
        await self.reply("OK", "Script is valid")
        return True

    async def cmd_listscripts(self, args: list) -> bool:
        scripts = await self.call(self.service.scripts.list, self.account)
        out = b"".join(quote(s.name) + (b" ACTIVE" if s.active else b"") + b"\r\n" for s in scripts)
        await self.send(out)
        await self.reply("OK", "Listscripts completed")
        return True

    async def cmd_setactive(self, args: list) -> bool:
        (name,) = _args(args, str)
        await self.call(self.service.scripts.activate, self.account, name or None, actor=self._actor())
        await self.reply("OK", "Setactive completed")
        return True

    async def cmd_getscript(self, args: list) -> bool:
        (name,) = _args(args, str)
        text = await self.call(self.service.scripts.get, self.account, name)
        data = text.encode("utf-8")
        await self.send(b"{%d}\r\n" % len(data) + data + b"\r\n")
        await self.reply("OK", "Getscript completed")
        return True

    async def cmd_deletescript(self, args: list) -> bool:
        (name,) = _args(args, str)
        try:
            await self.call(self.service.scripts.delete, self.account, name, actor=self._actor())
        except Conflict as exc:
            await self.reply("NO", str(exc), "ACTIVE")
            return True
        await self.reply("OK", "Deletescript completed")
        return True

    async def cmd_renamescript(self, args: list) -> bool:
        old, new = _args(args, str, str)
        try:
            await self.call(self.service.scripts.rename, self.account, old, new, actor=self._actor())
        except Conflict as exc:
            await self.reply("NO", str(exc), "ALREADYEXISTS")
            return True
        await self.reply("OK", "Renamescript completed")
        return True

    def _actor(self) -> str:
        assert self.account is not None
        return self.account.address


#: NAME -> (needs a login, method).
_COMMANDS: dict[str, tuple[bool, Any]] = {
    "CAPABILITY": (False, Session.cmd_capability),
    "NOOP": (False, Session.cmd_noop),
    "LOGOUT": (False, Session.cmd_logout),
    "STARTTLS": (False, Session.cmd_starttls),
    "AUTHENTICATE": (False, Session.cmd_authenticate),
    "UNAUTHENTICATE": (True, Session.cmd_unauthenticate),
    "HAVESPACE": (True, Session.cmd_havespace),
    "PUTSCRIPT": (True, Session.cmd_putscript),
    "CHECKSCRIPT": (True, Session.cmd_checkscript),
    "LISTSCRIPTS": (True, Session.cmd_listscripts),
    "SETACTIVE": (True, Session.cmd_setactive),
    "GETSCRIPT": (True, Session.cmd_getscript),
    "DELETESCRIPT": (True, Session.cmd_deletescript),
    "RENAMESCRIPT": (True, Session.cmd_renamescript),
}


def _args(args: list, *kinds: type) -> tuple:
    if len(args) != len(kinds) or not all(isinstance(a, k) and not isinstance(a, bool) for a, k in zip(args, kinds)):
        raise BadCommand("wrong arguments")
    return tuple(args)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # RFC 5804 section 1.6: scripts and names are UTF-8.
        raise BadCommand("not UTF-8") from None


def _tokens(line: bytes, out: list[Any]) -> int | None:
    """Append the atoms, quoted strings and numbers of ``line`` to ``out``;
    return the size of a literal that ends the line, or None."""
    i = 0
    n = len(line)
    while i < n:
        c = line[i : i + 1]
        if c == b" ":
            i += 1
        elif c == b'"':
            j = i + 1
            buf = bytearray()
            while j < n and line[j : j + 1] != b'"':
                if line[j : j + 1] == b"\\" and j + 1 < n:
                    j += 1
                buf += line[j : j + 1]
                j += 1
            if j >= n:
                raise BadCommand("unterminated string")
            out.append(_text(bytes(buf)))
            i = j + 1
        elif c == b"{":
            end = line.find(b"}", i)
            if end != n - 1:
                raise BadCommand("a literal must end the line")
            digits = line[i + 1 : end].rstrip(b"+")
            if not digits.isdigit() or len(digits) > 10:
                raise BadCommand("bad literal")
            return int(digits)
        else:
            j = i
            while j < n and line[j : j + 1] not in (b" ", b'"', b"{"):
                j += 1
            atom = line[i:j].decode("ascii", "replace")
            out.append(int(atom) if atom.isdigit() and len(atom) <= 18 else atom)
            i = j
    return None
