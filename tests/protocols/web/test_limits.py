"""Request bodies on the web listeners are bounded before any resource runs:
a declared or streamed (chunked) body over the limit of its route ([dav]
max_request_bytes under /dav/, [web] max_request_bytes elsewhere) is
answered 413 and the connection closed and no longer read, on any host,
over HTTP and HTTPS, and the daemon goes on serving; but the panel's upload
form that explains its limit gets the request without its body."""

from __future__ import annotations

import http.client
import socket
import ssl

from appliance.panel.rights import UPLOADS
from tests.protocols.liveness import assert_responsive

from .conftest import MAX_BODY, MAX_OTHER_BODY


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


def _chunked_upload(sock: socket.socket, path: bytes, host: bytes, total: int, chunk: int = 65536) -> int:
    """Send a chunked PUT of ``total`` bytes (or until the server stops
    taking them); the bytes the socket accepted."""
    sock.sendall(b"PUT " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    block = b"%x\r\n" % chunk + b"\0" * chunk + b"\r\n"
    sent = 0
    try:
        while sent < total:
            sock.sendall(block)
            sent += chunk
    except OSError:
        pass  # the server cut the connection
    return sent


def test_a_chunked_dav_upload_over_https_stops_being_read_at_the_limit(env):
    """A chunked PUT to /dav/ over TLS is answered 413 at [dav] max_request_bytes and
    no longer read: the client can push at most what the socket buffers hold
    (far less than the 64 MiB it tries), and other protocols keep answering."""
    raw = socket.create_connection(("127.0.0.1", env.daemon.port("https")), timeout=10)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with context.wrap_socket(raw, server_hostname="box.appliance.test") as sock:
        sent = _chunked_upload(sock, b"/dav/x", b"box.appliance.test", 64 * MAX_BODY)
        try:
            reply = _read_all(sock)
        except (OSError, ssl.SSLError):
            reply = b""
    assert sent < 32 * MAX_BODY, f"{sent} bytes were taken"
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413 "), reply[:100]
    assert_responsive(env.daemon)


def test_a_chunked_body_elsewhere_is_held_to_the_general_limit(env):
    """Outside /dav/ a chunked body may not pass [web] max_request_bytes: 413."""
    with _connect(env) as sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: acme.example\r\nTransfer-Encoding: chunked\r\n\r\n")
        body = b"%x\r\n" % (MAX_OTHER_BODY + 1) + b"\0" * (MAX_OTHER_BODY + 1) + b"\r\n0\r\n\r\n"
        try:
            sock.sendall(body)
        except OSError:
            pass
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]


def test_a_chunked_dav_body_under_its_limit_but_over_the_general_one_is_read(env):
    """/dav/ keeps its own, larger limit: a chunked body between the two limits
    is read and reaches DAV (which asks for a login), not refused as too large."""
    with _connect(env) as sock:
        size = MAX_OTHER_BODY * 2
        sock.sendall(b"PUT /dav/x HTTP/1.1\r\nHost: box.appliance.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     + b"%x\r\n" % size + b"\0" * size + b"\r\n0\r\n\r\n")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 401 "), reply[:100]


def test_an_upload_form_over_its_limit_is_answered_by_its_page_and_its_body_dropped(env):
    """A declared body over the panel's site upload limit (the one form
    whose page explains it) reaches the panel without its body: the answer
    (here the sign-in redirect: no session) comes before any body is sent,
    and the body is then read and dropped, not reset under the client;
    once it is all in, the connection closes, a request after it unread."""
    limit = UPLOADS["/website/upload"].max_bytes
    raw = socket.create_connection(("127.0.0.1", env.daemon.port("https")), timeout=10)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with context.wrap_socket(raw, server_hostname="box.appliance.test") as sock:
        sock.sendall(b"POST /website/upload HTTP/1.1\r\nHost: box.appliance.test\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n" % (limit + 1))
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        assert answer.status == 303 and answer.getheader("connection") == "close"
        answer.read()
        block = b"\0" * (1024 * 1024)
        for _ in range(limit // len(block)):
            sock.sendall(block)  # a reset here would raise
        sock.sendall(b"\0" + b"GET / HTTP/1.1\r\nHost: box.appliance.test\r\n\r\n")
        assert _read_all(sock) == b""
    assert_responsive(env.daemon)
