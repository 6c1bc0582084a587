"""A small asyncio SMTP client for the outbound queue: one session, one
message, a result per recipient.

It exists because the queue needs what smtplib does not give on an event
loop: per-recipient replies, opportunistic STARTTLS (RFC 7435: encrypt when
offered, no certificate check, as Postfix's ``may`` level), and a body that
always goes out with CRLF line ends and correct dot-stuffing (RFC 5321
section 4.5.2) whatever it was stored with.

TLS modes: ``opportunistic`` (MX delivery), ``starttls`` and ``tls``
(smarthost, or an MX under an enforced MTA-STS policy; certificate
verified against ``server_name``), ``dane`` (STARTTLS required, the
certificate matched against TLSA records, RFC 7672), ``none``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl

from appliance import dane
# The queue's contract (appliance.outbound.Send) owns these errors.
from appliance.outbound import TlsFailed, TryNextHost

log = logging.getLogger(__name__)

MAX_REPLY_LINES = 100

__all__ = ["TlsFailed", "TryNextHost", "send", "wire_body"]


def wire_body(body: bytes) -> bytes:
    """``body`` with every line end CRLF, dot-stuffed, ending in CRLF."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    if text.startswith(b"."):
        text = b"." + text
    return text.replace(b"\r\n.", b"\r\n..")


class _Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float):
        self.reader = reader
        self.writer = writer
        self.timeout = timeout

    async def reply(self) -> tuple[int, str, list[str]]:
        lines: list[str] = []
        while len(lines) < MAX_REPLY_LINES:
            raw = await asyncio.wait_for(self.reader.readline(), self.timeout)
            if not raw:
                raise ConnectionError("connection closed by the server")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if len(line) < 3 or not line[:3].isdigit():
                raise ConnectionError(f"malformed reply {line[:80]!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), " ".join([line[:3]] + [l for l in lines if l]), lines
        raise ConnectionError("reply too long")

    async def command(self, line: str) -> tuple[int, str, list[str]]:
        self.writer.write(line.encode("utf-8") + b"\r\n")
        await self.writer.drain()
        return await self.reply()


async def send(
    host: str,
    port: int,
    *,
    helo: str,
    mail_from: str,
    recipients: list[str],
    body: bytes,
    tls: str = "opportunistic",
    auth: tuple[str, str] | None = None,
    cafile: str | None = None,
    smtputf8: bool = False,
    timeout: float = 60.0,
    server_name: str | None = None,
    tlsa: tuple[dane.Tlsa, ...] = (),
) -> dict[str, tuple[int, str]]:
    """Send one message; returns ``{recipient: (code, reply text)}``.

    See ``appliance.outbound.Send``. Raises :class:`TryNextHost` when the
    server could not be used at all;
    once a session is established every recipient gets a reply (a session
    that breaks later gives every undecided recipient a 4xx).
    """
    context = None
    name = server_name or host
    if tls in ("starttls", "tls"):
        # Verified TLS: the smarthost's certificate must chain to ``cafile``
        # (or the system's CAs) and name the host.
        context = ssl.create_default_context(cafile=cafile)
    elif tls in ("opportunistic", "dane"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context if tls == "tls" else None, server_hostname=name if tls == "tls" else None),
            timeout,
        )
    except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
        raise TryNextHost(f"cannot connect: {exc or type(exc).__name__}") from None
    session = _Session(reader, writer, timeout)
    results: dict[str, tuple[int, str]] = {}
    try:
        try:
            code, text, _ = await session.reply()
            if code != 220:
                raise TryNextHost(f"greeting {text}")
            code, text, ext = await session.command(f"EHLO {helo}")
            if code != 250:
                code, text, ext = await session.command(f"HELO {helo}")
                if code != 250:
                    raise TryNextHost(f"HELO refused: {text}")
                ext = []
            features = {e.split(" ", 1)[0].upper() for e in ext[1:]}
            if tls in ("starttls", "opportunistic", "dane") and "STARTTLS" in features:
                code, text, _ = await session.command("STARTTLS")
                if code == 220:
                    try:
                        await writer.start_tls(context, server_hostname=name if tls == "starttls" else None)
                    except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as exc:
                        raise TlsFailed(f"TLS handshake failed: {exc or type(exc).__name__}") from None
                    if tls == "dane" and dane.authenticates(tlsa):
                        peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                        if not peer or not dane.matches(tlsa, peer):
                            raise TlsFailed("the certificate matches none of the host's TLSA records")
                    code, text, ext = await session.command(f"EHLO {helo}")
                    features = {e.split(" ", 1)[0].upper() for e in ext[1:]}
                elif tls in ("starttls", "dane"):
                    raise TryNextHost(f"STARTTLS refused: {text}")
            elif tls in ("starttls", "dane"):
                raise TryNextHost("the server does not offer STARTTLS")
        except (OSError, asyncio.TimeoutError, ssl.SSLError, ConnectionError, asyncio.IncompleteReadError) as exc:
            raise TryNextHost(str(exc) or type(exc).__name__) from None
        if smtputf8 and "SMTPUTF8" not in features:
            # RFC 6531 section 3.4: the message cannot be downgraded.
            return {r: (553, "553 5.6.7 The receiving server does not support SMTPUTF8") for r in recipients}
        try:
            if auth is not None:
                token = base64.b64encode(b"\0" + auth[0].encode() + b"\0" + auth[1].encode()).decode()
                code, text, _ = await session.command(f"AUTH PLAIN {token}")
                if code != 235:
                    return {r: (code if code >= 400 else 451, text) for r in recipients}
            params = []
            if "8BITMIME" in features and not body.isascii():
                params.append("BODY=8BITMIME")
            if smtputf8:
                params.append("SMTPUTF8")
            if "SIZE" in features:
                params.append(f"SIZE={len(body)}")
            code, text, _ = await session.command(f"MAIL FROM:<{mail_from}>" + "".join(" " + p for p in params))
            if code != 250:
                return {r: (code, text) for r in recipients}
            accepted = []
            for rcpt in recipients:
                code, text, _ = await session.command(f"RCPT TO:<{rcpt}>")
                if 200 <= code < 300:
                    accepted.append(rcpt)
                else:
                    results[rcpt] = (code, text)
            if not accepted:
                await session.command("RSET")
                return results
            code, text, _ = await session.command("DATA")
            if code != 354:
                for rcpt in accepted:
                    results[rcpt] = (code, text)
                return results
            writer.write(wire_body(body) + b".\r\n")
            await writer.drain()
            code, text, _ = await session.reply()
            for rcpt in accepted:
                results[rcpt] = (code, text)
            try:
                await session.command("QUIT")
            except (OSError, asyncio.TimeoutError, ConnectionError):
                pass
        except (OSError, asyncio.TimeoutError, ssl.SSLError, ConnectionError, asyncio.IncompleteReadError) as exc:
            for rcpt in recipients:
                results.setdefault(rcpt, (451, f"451 4.4.2 Connection broken: {exc or type(exc).__name__}"))
        return results
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 5)
        except (OSError, asyncio.TimeoutError, ssl.SSLError, ConnectionError):
            pass
