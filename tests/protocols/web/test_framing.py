"""HTTP/1.1 framing a proxy in front could read differently from us is
refused with 400 and a closed connection (RFC 9112), before any resource
runs; what the grammar allows is still served. Each test speaks raw bytes
over a socket to the daemon's HTTP listener."""

from __future__ import annotations

import re
import socket

from tests.protocols.liveness import assert_responsive

SITE = b"Host: acme.example\r\n"


def exchange(env, raw: bytes, timeout: float = 10) -> list[bytes]:
    """Send ``raw`` and read until the server closes; the status lines of
    every response received, in order. Fails if the server does not close."""
    with socket.create_connection(("127.0.0.1", env.daemon.port("http")), timeout=timeout) as sock:
        sock.sendall(raw)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return re.findall(rb"HTTP/1\.[01] ([^\r\n]*)\r\n", data)


def served(env, raw: bytes) -> list[bytes]:
    """Like :func:`exchange` for a request that is fine: ``Connection: close``
    is added so the server ends the connection after answering."""
    return exchange(env, raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))


def test_two_host_fields_are_refused(env):
    """A request with two Host fields gets 400 and nothing else (RFC 9112 section 3.2)."""
    assert exchange(env, b"GET / HTTP/1.1\r\nHost: acme.example\r\nHost: box.appliance.test\r\n\r\n") == [b"400 Bad Request"]


def test_a_host_field_per_line_of_each_name_is_refused_whatever_its_case(env):
    """``host`` and ``HOST`` are the same field: two of them are refused as well."""
    assert exchange(env, b"GET / HTTP/1.1\r\nhost: acme.example\r\nHOST: acme.example\r\n\r\n") == [b"400 Bad Request"]


def test_an_http11_request_without_host_is_refused(env):
    """HTTP/1.1 without Host gets 400 instead of a site (RFC 9112 section 3.2)."""
    assert exchange(env, b"GET / HTTP/1.1\r\n\r\n") == [b"400 Bad Request"]


def test_an_http10_request_without_host_is_still_answered(env):
    """HTTP/1.0 has no Host requirement: it is routed to the box, whose
    ``/`` over plain HTTP is the control panel's redirect to HTTPS (not
    the 400 an HTTP/1.1 request without Host gets)."""
    assert exchange(env, b"GET / HTTP/1.0\r\n\r\n") == [b"301 Moved Permanently"]


def test_a_folded_header_line_is_refused(env):
    """obs-fold (a header line starting with a space or tab) gets 400 (RFC 9112 section 5.2)."""
    assert exchange(env, b"GET / HTTP/1.1\r\n" + SITE + b"X-Long: a\r\n b\r\n\r\n") == [b"400 Bad Request"]
    assert exchange(env, b"GET / HTTP/1.1\r\n" + SITE + b"X-Long: a\r\n\tb\r\n\r\n") == [b"400 Bad Request"]


def test_whitespace_before_the_first_header_is_refused(env):
    """A space-led line right after the request line is refused, not glued to anything."""
    assert exchange(env, b"GET / HTTP/1.1\r\n Host: acme.example\r\n" + SITE + b"\r\n") == [b"400 Bad Request"]


def test_two_content_lengths_are_refused(env):
    """Two Content-Length fields, even equal, get 400 (RFC 9112 section 6.3)."""
    raw = b"POST / HTTP/1.1\r\n" + SITE + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"
    assert exchange(env, raw) == [b"400 Bad Request"]


def test_content_length_with_transfer_encoding_is_refused(env):
    """Content-Length and Transfer-Encoding together get 400, in either order and with any coding."""
    for fields in (
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n",
    ):
        assert exchange(env, b"POST / HTTP/1.1\r\n" + SITE + fields + b"\r\n0\r\n\r\n") == [b"400 Bad Request"], fields


def test_transfer_codings_other_than_chunked_are_refused(env):
    """Only ``chunked`` framing is understood; ``identity``, ``gzip, chunked`` and a second field get 400."""
    for fields in (
        b"Transfer-Encoding: identity\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    ):
        assert exchange(env, b"POST / HTTP/1.1\r\n" + SITE + fields + b"\r\n0\r\n\r\n") == [b"400 Bad Request"], fields


def test_transfer_encoding_in_http10_is_refused(env):
    """HTTP/1.0 has no chunked framing: such a request is refused (RFC 9112 section 6.1)."""
    assert exchange(env, b"POST / HTTP/1.0\r\n" + SITE + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == [b"400 Bad Request"]


def test_a_quoted_crlf_in_a_chunk_extension_smuggles_no_request(env):
    """An unclosed quoted string in a chunk extension, whose CRLF a proxy
    would read as part of the string, gets one 400: the request hidden after
    it is never answered."""
    raw = (
        b"POST / HTTP/1.1\r\n" + SITE + b"Transfer-Encoding: chunked\r\n\r\n"
        b'1;a="x\r\nZ\r\n0\r\n\r\n'
        b"GET /smuggled HTTP/1.1\r\n" + SITE + b"\r\n"
        b'"\r\n0\r\n\r\n'
    )
    assert exchange(env, raw) == [b"400 Bad Request"]


def test_malformed_chunk_lines_are_refused(env):
    """Chunk lines outside the grammar get 400: a bare quote, a lone ``;``,
    a control character, a space inside the size, a bare LF."""
    for line in (b'1;a"b', b"1;", b"1;a=\x01", b"1 1", b"1;a=b\nc"):
        raw = b"POST / HTTP/1.1\r\n" + SITE + b"Transfer-Encoding: chunked\r\n\r\n" + line + b"\r\nZ\r\n0\r\n\r\n"
        assert exchange(env, raw) == [b"400 Bad Request"], line


def test_chunk_extensions_the_grammar_allows_are_accepted(env):
    """Token and quoted-string extensions (with spaces and a ``;`` inside the
    quotes) are read past; the request is answered normally."""
    raw = (
        b"POST / HTTP/1.1\r\n" + SITE + b"Transfer-Encoding: chunked\r\n\r\n"
        b'3;name=value ; q="a ; b"\r\nabc\r\n0\r\n\r\n'
    )
    replies = served(env, raw)
    assert len(replies) == 1 and not replies[0].startswith(b"400"), replies


def test_pipelined_requests_are_still_answered_in_order(env):
    """Two well-formed requests sent at once get two answers."""
    raw = b"GET / HTTP/1.1\r\n" + SITE + b"\r\nGET /missing HTTP/1.1\r\n" + SITE + b"Connection: close\r\n\r\n"
    replies = exchange(env, raw)
    assert len(replies) == 2 and replies[1] == b"404 Not Found", replies


def test_other_protocols_answer_while_bad_framing_is_sent(env):
    """While 50 malformed requests arrive, a DNS query and an SMTP banner still answer within 100 ms."""
    sockets = []
    try:
        for _ in range(50):
            sock = socket.create_connection(("127.0.0.1", env.daemon.port("http")), timeout=10)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
            sockets.append(sock)
        assert_responsive(env.daemon)
    finally:
        for sock in sockets:
            sock.close()
