"""Cached website files are answered beneath twisted.web (protocols.web.lean)
with the very bytes twisted.web sends, on keep-alive and pipelined
connections, over HTTP and HTTPS; every request the lean path cannot
answer (a panel or DAV request, a request line or headers over the limit,
another business's host) is still twisted.web's, in order, on the same
connection.

A request with a repeated field (two ``Accept`` lines) is never taken by
the lean path: sent beside the same request without it, it shows what
twisted.web itself answers."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time

import pytest

CSS = b"body { color: #333; margin: 0 auto; }\n" * 80
PAGE = b"<!DOCTYPE html><html lang=\"en\"><title>Acme</title><p>Lean</p></html>\n" * 40
OTHER = b"<!DOCTYPE html><title>Other</title><p>the other business</p>\n"
#: Makes a request twisted.web's (see module doc).
TWISTED_ONLY = b"Accept: text/css\r\nAccept: */*\r\n"


@pytest.fixture(scope="module")
def sites(env):
    env.site("acme", {"index.html": PAGE, "lean/style.css": CSS, "lean/only-acme.html": PAGE}, name="lean")
    env.site("other", {"index.html": OTHER}, name="lean")
    env.wait_body("acme.example", "/lean/style.css", CSS)
    env.wait_body("other.example", "/", OTHER)
    return env


def _connect(env, scheme: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", env.daemon.port(scheme)), timeout=10)
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname="acme.example")
    return sock


def _read_responses(sock: socket.socket, count: int, heads: tuple[bool, ...] = ()) -> list[tuple[bytes, bytes]]:
    """``count`` responses (head, body) read off ``sock``; ``heads[i]``
    true for the answer to a HEAD (no body whatever its Content-Length)."""
    data = b""
    out = []
    for i in range(count):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {len(out)} responses: {data[:200]!r}"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        length = re.search(rb"\r\nContent-Length: (\d+)", head)
        size = 0 if (i < len(heads) and heads[i]) or head.startswith(b"HTTP/1.1 304") or not length else int(length[1])
        while len(data) < size:
            chunk = sock.recv(65536)
            assert chunk, "closed in a body"
            data += chunk
        out.append((head, data[:size]))
        data = data[size:]
    return out


def _exchange(env, scheme: str, request: bytes) -> bytes:
    """One request on a new connection; its response, Date taken out."""
    with _connect(env, scheme) as sock:
        sock.sendall(request)
        [(head, body)] = _read_responses(sock, 1, (request.startswith(b"HEAD"),))
    return re.sub(rb"\r\nDate: [^\r]*", b"", head) + b"\r\n\r\n" + body


def _request(method: str, path: str, *fields: bytes, host: bytes = b"acme.example") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: %s\r\n" % (method.encode(), path.encode(), host) + b"".join(fields)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_cached_answers_are_twisted_webs_bytes(sites, scheme):
    """GET, HEAD, gzip, 304 (If-None-Match, If-Modified-Since), 206 and 416
    answers from the lean path are byte for byte what twisted.web sends
    (HSTS included over HTTPS)."""
    etag = sites.curl("acme.example", "/lean/style.css").headers["etag"].encode()
    cases = [
        _request("GET", "/lean/style.css"),
        _request("HEAD", "/lean/style.css"),
        _request("GET", "/"),
        _request("GET", "/lean/style.css", b"Accept-Encoding: gzip, deflate\r\n"),
        _request("HEAD", "/lean/style.css", b"Accept-Encoding: gzip\r\n"),
        _request("GET", "/lean/style.css", b"If-None-Match: W/\"x\", " + etag + b"\r\n"),
        _request("GET", "/lean/style.css", b"If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n"),
        _request("GET", "/lean/style.css", b"Range: bytes=10-19\r\n"),
        _request("GET", "/lean/style.css", b"Range: bytes=999999-\r\n"),
        _request("GET", "/lean/style.css", b"Range: bytes=0-9\r\n", b"If-Range: \"stale\"\r\n"),
        _request("GET", "/lean/style.css?v=2", b"Connection: keep-alive\r\n", host=b"www.acme.example:80"),
    ]
    statuses = []
    for request in cases:
        twisted = _exchange(sites, scheme, request + TWISTED_ONLY + b"\r\n")
        _exchange(sites, scheme, request + b"\r\n")  # cached by now
        lean = _exchange(sites, scheme, request + b"\r\n")
        assert lean == twisted, request
        statuses.append(lean.split(b"\r\n", 1)[0])
    assert statuses == [b"HTTP/1.1 200 OK"] * 5 + [b"HTTP/1.1 304 Not Modified"] * 2 + [
        b"HTTP/1.1 206 Partial Content", b"HTTP/1.1 416 Requested Range not satisfiable", b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK"]


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_keep_alive_serves_many_requests_on_one_connection(sites, scheme):
    """Twenty requests one after the other on one connection each get the file."""
    with _connect(sites, scheme) as sock:
        for i in range(20):
            path = "/lean/style.css" if i % 2 else "/"
            sock.sendall(_request("GET", path) + b"\r\n")
            [(head, body)] = _read_responses(sock, 1)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n") and body == (CSS if i % 2 else PAGE)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_pipelined_site_panel_and_dav_requests_are_answered_in_order(sites, scheme):
    """Site files, a DAV PROPFIND, the /admin redirect and a missing page sent
    in one write are answered in the order sent, the connection kept open."""
    raw = (
        _request("GET", "/lean/style.css") + b"\r\n"
        + _request("PROPFIND", "/dav/", b"Depth: 0\r\nContent-Length: 0\r\n") + b"\r\n"
        + _request("HEAD", "/") + b"\r\n"
        + _request("GET", "/admin") + b"\r\n"
        + _request("GET", "/lean/style.css", b"Range: bytes=0-3\r\n") + b"\r\n"
        + _request("GET", "/lean/missing.html") + b"\r\n"
        + _request("GET", "/") + b"\r\n"
    )
    with _connect(sites, scheme) as sock:
        sock.sendall(raw)
        replies = _read_responses(sock, 7, (False, False, True))
        sock.sendall(_request("GET", "/lean/style.css") + b"\r\n")
        [last] = _read_responses(sock, 1)
    statuses = [head.split(b"\r\n", 1)[0] for head, _ in replies]
    assert statuses[0] == b"HTTP/1.1 200 OK" and replies[0][1] == CSS
    assert statuses[1] == b"HTTP/1.1 401 Unauthorized", statuses
    assert statuses[2] == b"HTTP/1.1 200 OK" and replies[2][1] == b""
    assert statuses[3] == b"HTTP/1.1 302 Found"  # to the panel
    assert statuses[4] == b"HTTP/1.1 206 Partial Content" and replies[4][1] == CSS[:4]
    assert statuses[5] == b"HTTP/1.1 404 Not Found"
    assert statuses[6] == b"HTTP/1.1 200 OK" and replies[6][1] == PAGE
    assert last[1] == CSS


def test_a_request_split_across_writes_is_answered(sites):
    """A request whose head arrives in three pieces gets the file."""
    with _connect(sites, "http") as sock:
        for piece in (b"GET /lean/sty", b"le.css HTTP/1.1\r\nHost: acme.", b"example\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(0.1)
        [(head, body)] = _read_responses(sock, 1)
    assert head.startswith(b"HTTP/1.1 200 OK") and body == CSS


def test_connection_close_is_honoured(sites):
    """``Connection: close`` gets the file and then the end of the connection."""
    with _connect(sites, "http") as sock:
        sock.sendall(_request("GET", "/lean/style.css", b"Connection: close\r\n") + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(CSS)


def _after_a_cached_answer(env, request: bytes) -> bytes:
    """Everything the server sends for ``request``, sent on a connection
    that was just served a cached file, until it closes."""
    with _connect(env, "http") as sock:
        sock.sendall(_request("GET", "/lean/style.css") + b"\r\n")
        [(_, body)] = _read_responses(sock, 1)
        assert body == CSS
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data


def test_headers_over_the_limit_are_refused_after_cached_answers(sites):
    """On a connection served from the cache, headers over twisted.web's
    total (16 KiB) get 400 and the end of the connection."""
    fields = b"".join(b"X-Big-%d: %s\r\n" % (i, b"a" * 6000) for i in range(3))
    data = _after_a_cached_answer(sites, _request("GET", "/lean/style.css", fields) + b"\r\n")
    assert data.startswith(b"HTTP/1.1 400 ") and CSS not in data, data[:80]


@pytest.mark.parametrize("line", ["request", "field"])
def test_a_line_over_the_limit_ends_the_connection_after_cached_answers(sites, line):
    """On a connection served from the cache, a request line or a field
    line over twisted.web's line limit (16 KiB) ends the connection, the
    file not sent."""
    if line == "request":
        request = _request("GET", "/lean/style.css?" + "q" * 20000) + b"\r\n"
    else:
        request = _request("GET", "/lean/style.css", b"X-Big: " + b"a" * 20000 + b"\r\n") + b"\r\n"
    data = _after_a_cached_answer(sites, request)
    assert CSS not in data and (not data or data.startswith(b"HTTP/1.1 400 ")), data[:80]


def test_another_business_files_are_never_served(sites):
    """A path cached for acme asked with other's host name gets other's
    answer (its 404), and an unknown host (or a port that is not one) the
    neutral 404: each business's files come only under its own names."""
    sites.curl("acme.example", "/lean/only-acme.html", scheme="http")  # cached for acme
    with _connect(sites, "http") as sock:
        sock.sendall(_request("GET", "/lean/only-acme.html") + b"\r\n"
                     + _request("GET", "/lean/only-acme.html", host=b"other.example") + b"\r\n"
                     + _request("GET", "/", host=b"other.example") + b"\r\n"
                     + _request("GET", "/lean/only-acme.html", host=b"nobody.example") + b"\r\n"
                     + _request("GET", "/lean/only-acme.html", host=b"acme.example:1:2") + b"\r\n")
        replies = _read_responses(sock, 5)
    assert replies[0][0].startswith(b"HTTP/1.1 200 ") and replies[0][1] == PAGE
    assert replies[1][0].startswith(b"HTTP/1.1 404 ") and PAGE not in replies[1][1]
    assert replies[2][1] == OTHER
    assert replies[3][0].startswith(b"HTTP/1.1 404 ") and PAGE not in replies[3][1]
    assert replies[4][0].startswith(b"HTTP/1.1 404 ") and PAGE not in replies[4][1]  # host "acme.example:1"


def test_curl_reuses_one_connection_for_several_files(sites):
    """curl fetching three URLs on one connection gets every file, over HTTPS."""
    port = sites.daemon.port("https")
    proc = subprocess.run(
        ["curl", "-sk", "--resolve", f"acme.example:{port}:127.0.0.1", "-w", "<<%{num_connects}>>",
         *(f"https://acme.example:{port}{p}" for p in ("/lean/style.css", "/", "/lean/style.css"))],
        capture_output=True, timeout=30, check=True)
    assert proc.stdout.count(CSS) == 2 and PAGE in proc.stdout
    assert re.findall(rb"<<(\d+)>>", proc.stdout) == [b"1", b"0", b"0"]  # one connection, reused twice
