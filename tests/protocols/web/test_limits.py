"""Request bodies on the web listeners are bounded before any resource runs:
a declared or streamed body over the limit is answered 413 and the
connection closed, on any host, and the daemon goes on serving."""

from __future__ import annotations

import socket

from .conftest import MAX_BODY


def _connect(env) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", env.daemon.port("http")), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset counts as closed)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_declared_length_over_the_limit_is_refused_before_the_body(env):
    """Content-Length over the limit gets 413 and a closed connection without sending any body."""
    with _connect(env) as sock:
        sock.sendall(
            b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.acme.example\r\n"
            b"Content-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        )
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]


def test_a_chunked_body_growing_past_the_limit_is_cut_off(env):
    """A chunked body that passes the limit makes the server close the connection instead of reading on."""
    with _connect(env) as sock:
        sock.sendall(
            b"PUT /dav/x HTTP/1.1\r\nHost: nobody.example\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"%x\r\n" % (4 * MAX_BODY)
        )
        sent = 0
        try:
            while sent < 2 * MAX_BODY:
                sock.sendall(b"\0" * 65536)
                sent += 65536
        except OSError:
            pass  # the server closed while we were still sending: refused
        # Were the body still being read, this would time out (socket timeout 10 s).
        reply = _read_all(sock)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413 "), reply[:100]


def test_the_daemon_serves_on_after_refusing(env):
    """After the refusals the daemon still answers normally."""
    test_a_declared_length_over_the_limit_is_refused_before_the_body(env)
    assert env.curl("nobody.example", "/").status == 404
    assert env.curl("autoconfig.acme.example", "/mail/config-v1.1.xml").status == 200
