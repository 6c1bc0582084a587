"""The HTTP/1.1 connection of the web listeners: strict framing, time limits
and body limits, enforced before any resource runs.

:class:`Channel` is twisted.web's ``HTTPChannel`` with these rules:

* **Framing** (RFC 9112; a proxy in front must not read a request
  differently from us): a request with two ``Host`` fields, an HTTP/1.1
  request with none (section 3.2), a header line folded onto the previous
  one (obs-fold, section 5.2), two ``Content-Length`` fields, both
  ``Content-Length`` and ``Transfer-Encoding`` (section 6.3), a transfer
  coding other than ``chunked``, ``Transfer-Encoding`` in an HTTP/1.0
  request (section 6.1), or a chunk line that is not ``chunk-size
  *chunk-ext`` to the letter (section 7.1.1: an unclosed quoted string
  there is how a second request is smuggled in) is answered ``400``.
* **Body size**: a body to ``/dav/`` may reach ``[dav] max_request_bytes``,
  any other ``[web] max_request_bytes``. A larger ``Content-Length`` is
  answered ``413`` before the body is read; a chunked body is counted as it
  arrives and answered ``413`` when it passes the limit. On the paths of
  ``Limits.explained`` (the panel's upload forms, whose pages say why) a
  larger ``Content-Length`` is not refused here: the request goes to its
  resource without its body, marked ``request.body_over_limit`` (the
  limit), and the body is read and dropped while the answer is sent, then
  the connection closes. A browser still sending shows nothing of an
  answer whose connection was reset under it (RFC 9112 section 9.6), so
  dropping it is what lets the page be seen; the body clock still bounds it.
* **Time**: the request line and headers must arrive within
  ``[web] header_seconds`` (counted from the accept or the end of the TLS
  handshake for a connection's first request, from its first byte for a
  later one); a body must arrive within ``[web] body_seconds`` plus one
  second per ``[web] body_min_rate`` bytes. Late ones are answered ``408``.
  The idle timeout between requests stays twisted.web's.

While twisted.web has nothing of the connection in hand, what arrives goes
first to the site's lean path (:mod:`.lean`, ``site.lean``), which answers
the cached website files at its front and gives back the rest, from the
first request it does not answer, to the rules above.

Every refusal closes the connection: reading stops at once, the reply is
flushed, and the connection is cut if the client does not let it close
(:func:`appliance.twisted_glue.close_after_reply`). Each is one INFO line.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IHandshakeListener
from twisted.web import http
from zope.interface import implementer

from appliance.twisted_glue import close_after_reply

log = logging.getLogger(__name__)


def _reply(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"


REPLIES = {
    400: _reply(b"400 Bad Request"),
    408: _reply(b"408 Request Timeout"),
    413: _reply(b"413 Content Too Large"),
}

# RFC 9112 section 7.1.1 and RFC 9110 section 5.6:
#   chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
#   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-val = token / quoted-string
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(
    rb"[0-9A-Fa-f]+(?:[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*"
)


class _StrictChunkedDecoder(http._ChunkedTransferDecoder):
    """Twisted's chunked decoder, refusing any chunk line that does not
    match the grammar exactly (Twisted accepts any printable characters in
    an extension, an unclosed quote included)."""

    def _dataReceived_CHUNK_LENGTH(self) -> bool:  # noqa: N802 - Twisted's dispatch by name
        end = self._buffer.find(b"\r\n", self._start)
        if end != -1 and end < http.maxChunkSizeLineLength and not _CHUNK_LINE.fullmatch(self._buffer, 0, end):
            raise http._MalformedChunkedDataError("malformed chunk line")
        return super()._dataReceived_CHUNK_LENGTH()


@dataclass(frozen=True)
class Limits:
    """The limits of :class:`Channel` (see module doc)."""

    header_seconds: float
    body_seconds: float
    body_min_rate: int
    max_body: int
    #: Path prefixes (``b"/dav"``) and the body limit of each.
    mounts: tuple[tuple[bytes, int], ...] = ()
    #: Exact paths whose resource explains a body over the limit (see module doc).
    explained: frozenset[bytes] = frozenset()

    def max_body_for(self, path: bytes) -> int:
        """The largest body a request for ``path`` may send."""
        for prefix, limit in self.mounts:
            if path == prefix or path.startswith(prefix + b"/") or path.startswith(prefix + b"?"):
                return limit
        return self.max_body


_line_received = http.HTTPChannel.lineReceived


@implementer(IHandshakeListener)
class Channel(http.HTTPChannel):
    """See module doc. ``site.limits`` is its :class:`Limits`."""

    #: After the idle timeout, how long a clean close may take.
    abortTimeout = 2

    _refused = False
    _secure = False
    #: "request" (waiting for a request line), "headers", "body" or
    #: "handling" (the request is being answered).
    _stage = "request"
    #: The one timer of the connection; it may fire early (then it looks at
    #: :attr:`_deadline` and sleeps again), so a request costs no timer.
    _timer: Any = None
    #: (monotonic deadline, what to call then) of the running clock, or None.
    _deadline: tuple[float, Any] | None = None
    _timer_due = 0.0
    _hosts = 0
    _framing: bytes | None = None
    _received = 0
    _body_limit = 0
    _body_started = 0.0
    #: Bytes of a body over the limit still to read and drop (see module doc).
    _dropping = 0
    _close_when_dropped = False

    # --- connection -----------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802 - Twisted's interface
        super().connectionMade()
        self._secure = self.isSecure()
        self._start_header_clock()

    def handshakeCompleted(self) -> None:  # noqa: N802 - IHandshakeListener
        # The handshake had its own bound; the headers get a full window.
        if self._stage == "request":
            self._start_header_clock()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802
        self._stop_clock()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        super().connectionLost(reason)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._refused:
            return
        lean = self.site.lean
        if lean is not None and self._idle():
            # Cached website files are answered beneath twisted.web
            # (protocols.web.lean); what it cannot answer comes back.
            self.resetTimeout()
            data = lean.serve(self, data, self._secure)
            if not data:
                return
        if self._stage == "request" and self._deadline is None:
            self._start_header_clock()
        super().dataReceived(data)

    def _idle(self) -> bool:
        """Whether twisted.web has nothing of this connection in hand: no
        request in flight, no bytes buffered, waiting for a request line."""
        return (self._stage == "request" and not self.requests and not self._buffer and not self._dataBuffer
                and self.line_mode and getattr(self, "_HTTPChannel__first_line", 0) == 1 and self.persistent)

    # --- request line and headers ------------------------------------------

    def lineReceived(self, line: bytes) -> None:  # noqa: N802
        # Called for every line of every request: the common case (a field
        # line that does not start with white space) goes straight on.
        if self._stage == "headers" and line and line[0] not in (32, 9) and not self._refused:
            return _line_received(self, line)
        if self._refused:
            return
        if self._stage == "request":
            if line:
                self._stage, self._hosts, self._framing = "headers", 0, None
                if self._deadline is None:  # a pipelined request, replayed from the buffer
                    self._start_header_clock()
        elif self._stage == "headers" and line[:1] in (b" ", b"\t"):
            # RFC 9112 section 5.2: obs-fold (and whitespace before the first field).
            return self.refuse(400, "folded header line")
        super().lineReceived(line)

    def headerReceived(self, line: bytes) -> bool:  # noqa: N802
        if self._refused:
            return False
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"host":
            self._hosts += 1
            if self._hosts > 1:
                self.refuse(400, "two Host fields")
                return False
        elif name in (b"content-length", b"transfer-encoding"):
            if self._framing is not None:
                self.refuse(400, f"{self._framing.decode()} and {name.decode()}")
                return False
            self._framing = name
            if name == b"transfer-encoding" and value.strip(b" \t").lower() != b"chunked":
                self.refuse(400, "transfer coding other than chunked")
                return False
        ok = super().headerReceived(line)
        if ok and name == b"transfer-encoding" and type(self._transferDecoder) is http._ChunkedTransferDecoder:
            self._transferDecoder = _StrictChunkedDecoder(self._body_chunk, self._finishRequestBody)
        elif ok and name == b"content-length" and self._transferDecoder is not None:
            self._transferDecoder.dataCallback = self._body_chunk
        return ok

    def allHeadersReceived(self) -> None:  # noqa: N802
        if self._refused:
            return
        self._stop_clock()
        if self._hosts == 0 and self._version == b"HTTP/1.1":
            return self.refuse(400, "HTTP/1.1 request without Host")
        if self._framing == b"transfer-encoding" and self._version != b"HTTP/1.1":
            return self.refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
        if self.length != 0:
            # Only requests with a body pay for finding their limit.
            self._body_limit = self.site.limits.max_body_for(self._path)
            if self.length is not None and self.length > self._body_limit:
                if self._path.partition(b"?")[0] in self.site.limits.explained:
                    return self._without_body()
                return self.refuse(413, f"declared body of {self.length} bytes over {self._body_limit}")
        super().allHeadersReceived()
        self._stage = "body"
        self._received = 0
        if self.length != 0:
            self._body_started = time.monotonic()
            self._arm(self.site.limits.body_seconds, self._body_late)

    def _without_body(self) -> None:
        """Hand the request to its resource without its body, marked, and
        drop the body as it comes (see module doc)."""
        log.info("%s: HTTP 413: declared body of %d bytes over %d, explained by its page",
                 getattr(self.transport.getPeer(), "host", "?"), self.length, self._body_limit)
        request = self.requests[-1]
        request.body_over_limit = self._body_limit
        # No "100 Continue" for a body we do not want, no form for Twisted
        # to parse from a body it will not get, no second request after it.
        request.requestHeaders.removeHeader(b"expect")
        request.requestHeaders.setRawHeaders(b"connection", [b"close"])
        request._parsePOSTFormSubmission = False
        self._dropping, self.length, self._transferDecoder = self.length, 0, None
        super().allHeadersReceived()  # then lineReceived sees no body: allContentReceived

    # --- body ---------------------------------------------------------------

    def _body_chunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self._body_limit:
            return self.refuse(413, f"body over {self._body_limit} bytes")
        self.requests[-1].handleContentChunk(data)

    def rawDataReceived(self, data: bytes) -> None:  # noqa: N802
        if self._refused:
            return
        if self._dropping:
            dropped = min(len(data), self._dropping)
            self._dropping -= dropped
            self._received += dropped
            data = data[dropped:]
            if not self._dropping:
                self._stop_clock()
                if self._close_when_dropped:
                    return super().loseConnection()
            if not data:
                return
        super().rawDataReceived(data)

    def loseConnection(self) -> None:  # noqa: N802
        if self._dropping and not self._refused:
            self._close_when_dropped = True  # once the body is in (or late)
            return
        super().loseConnection()

    def allContentReceived(self) -> None:  # noqa: N802
        if self._refused:
            return
        self._stop_clock()
        self._stage = "handling"
        super().allContentReceived()
        if self._dropping:
            self._received, self._body_started = 0, time.monotonic()
            self._arm(self.site.limits.body_seconds, self._body_late)

    def requestDone(self, request: Any) -> None:  # noqa: N802
        self._stage = "request"
        super().requestDone(request)
        # Pipelined bytes already here start the next request's clock.
        if self._stage == "request" and self._deadline is None and self._buffer and not self._refused:
            self._start_header_clock()

    # --- refusals -----------------------------------------------------------

    def refuse(self, status: int, why: str) -> None:
        """Answer ``status`` (400, 408 or 413), stop reading, close."""
        if self._refused:
            return
        self._refused = True
        self._stop_clock()
        log.info("%s: HTTP %d: %s", getattr(self.transport.getPeer(), "host", "?"), status, why)
        close_after_reply(self.transport, REPLIES[status])

    def _respondToBadRequestAndDisconnect(self) -> None:  # noqa: N802 - Twisted's own 400 path
        self.refuse(400, "malformed request")

    # --- clocks -------------------------------------------------------------

    def _start_header_clock(self) -> None:
        self._arm(self.site.limits.header_seconds, self._headers_late)

    def _arm(self, seconds: float, then: Any) -> None:
        """Call ``then`` unless :meth:`_stop_clock` comes within ``seconds``.

        Keep-alive connections start and stop a clock for every request;
        arming the reactor for each would cost a timer and a heap operation
        per request, so the one timer stays armed and, when it fires early,
        sleeps again until the current deadline."""
        deadline = time.monotonic() + seconds
        self._deadline = (deadline, then)
        if self._timer is None or not self._timer.active():
            self._timer = self.callLater(seconds, self._clock_fired)
            self._timer_due = deadline
        elif self._timer_due > deadline + 0.5:
            # A shorter clock than the one the timer sleeps for (headers
            # after a body): wake up in time for it.
            self._timer.reset(seconds)
            self._timer_due = deadline

    def _stop_clock(self) -> None:
        self._deadline = None

    def _clock_fired(self) -> None:
        self._timer = None
        if self._deadline is None or self._refused:
            return
        deadline, then = self._deadline
        left = deadline - time.monotonic()
        if left > 0:
            self._timer = self.callLater(left, self._clock_fired)
            self._timer_due = deadline
            return
        self._deadline = None
        then()

    def _headers_late(self) -> None:
        self.refuse(408, f"headers not complete within {self.site.limits.header_seconds:g}s")

    def _body_late(self) -> None:
        # The allowance grows with what has arrived (a minimum rate), so a
        # large upload on a slow line goes through and a trickle does not.
        limits = self.site.limits
        deadline = self._body_started + limits.body_seconds + self._received / limits.body_min_rate
        now = time.monotonic()
        if now < deadline:
            self._arm(deadline - now, self._body_late)
            return
        if self._dropping:
            # The answer is sent, or on its way: no 408 after it.
            self._refused = True
            log.info("%s: body over the limit still coming after its answer; cut",
                     getattr(self.transport.getPeer(), "host", "?"))
            return close_after_reply(self.transport)
        self.refuse(408, f"body slower than {limits.body_min_rate} bytes/s ({self._received} bytes received)")
