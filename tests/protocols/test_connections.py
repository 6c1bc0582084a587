"""Connections that hold a place without doing their part are cut, and one
address cannot take every place: TLS handshakes are bounded ([tls]
handshake_seconds) on HTTPS, IMAPS, IMAP STARTTLS, SMTPS and SMTP
STARTTLS; HTTP headers and bodies have their own clocks ([web]
header_seconds, body_seconds, body_min_rate); each protocol caps the open
connections per source address (max_connections_per_source), handshakes
included. While each attack runs, DNS and SMTP keep answering other
clients within 100 ms.

The daemon here has short clocks (2 s) and small caps (6) so the tests are
quick; sources other than 127.0.0.1 are other loopback addresses.
"""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import TEST_CONFIG, Cli, Daemon, wait_for
from tests.protocols.liveness import assert_responsive

CLOCK = 2
CAP = 6
#: A clock of CLOCK seconds must have fired by then (a loaded 2-core machine).
LATE = CLOCK + 4

CONFIG = TEST_CONFIG + f"""
[tls]
handshake_seconds = {CLOCK}

[web]
header_seconds = {CLOCK}
body_seconds = {CLOCK}
body_min_rate = 1000
max_connections_per_source = {CAP}

[imap]
max_connections_per_source = {CAP}

[smtp]
max_connections_per_source = {CAP}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    work = tmp_path_factory.mktemp("connections")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(CONFIG)
    Cli(state, config)("tenant", "add", "acme", "--domain", "acme.example")
    d = Daemon(state, config, work / "daemon.log").start()
    yield d
    d.stop()


def connect(daemon, listener: str, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket()
    sock.settimeout(LATE + 30)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", daemon.port(listener)))
    return sock


def read_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def until_closed(sock: socket.socket) -> tuple[float, bytes]:
    """Read until the server closes: (seconds it took, what was read)."""
    start = time.monotonic()
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"still open after {time.monotonic() - start:.0f}s")
    return time.monotonic() - start, data


# --- TLS handshakes ---------------------------------------------------------


@pytest.mark.parametrize("listener", ["https", "imaps", "submissions"])
def test_a_tls_handshake_that_never_finishes_is_cut(daemon, listener):
    """A client that connects to an implicit-TLS port and sends half a
    ClientHello is cut after [tls] handshake_seconds, while DNS and SMTP
    answer others."""
    sockets = [connect(daemon, listener, f"127.0.2.{i}") for i in range(1, 5)]
    try:
        for sock in sockets:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01")  # a record header and the start of a ClientHello
        assert_responsive(daemon)
        for sock in sockets:
            elapsed, _ = until_closed(sock)
            assert elapsed < LATE, f"{listener}: open {elapsed:.1f}s"
    finally:
        for sock in sockets:
            sock.close()


def test_imap_starttls_without_a_handshake_is_cut(daemon):
    """After IMAP STARTTLS is accepted, a client that never starts the handshake is cut."""
    with connect(daemon, "imap") as sock:
        assert read_line(sock).startswith(b"* OK")
        sock.sendall(b"a STARTTLS\r\n")
        assert read_line(sock).startswith(b"a OK")
        start = time.monotonic()
        elapsed, _ = until_closed(sock)
        assert time.monotonic() - start < LATE, f"open {elapsed:.1f}s"


@pytest.mark.parametrize("listener", ["smtp", "submission"])
def test_smtp_starttls_without_a_handshake_is_cut(daemon, listener):
    """After SMTP STARTTLS is accepted (220), a client that never starts the handshake is cut."""
    with connect(daemon, listener) as sock:
        assert read_line(sock).startswith(b"220 ")
        sock.sendall(b"EHLO client.example\r\n")
        while not read_line(sock).startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\n")
        assert read_line(sock).startswith(b"220 ")
        elapsed, _ = until_closed(sock)
        assert elapsed < LATE, f"open {elapsed:.1f}s"


# --- HTTP headers and bodies --------------------------------------------------


def _trickle(sockets: list[socket.socket], data: bytes, seconds: float, during=None) -> list[bytes]:
    """Send ``data`` a byte at a time on every socket, 0.25 s apart, for up to
    ``seconds``; what each socket received until the server closed it
    (``None`` for one still open at the end). ``during`` is called once,
    after the first second."""
    received: list[bytes | None] = [None] * len(sockets)
    for sock in sockets:
        sock.setblocking(False)
    deadline = time.monotonic() + seconds
    position = 0
    while time.monotonic() < deadline and any(r is None for r in received):
        for i, sock in enumerate(sockets):
            if received[i] is not None:
                continue
            try:
                reply = sock.recv(4096)
            except BlockingIOError:
                reply = None
            except ConnectionResetError:
                reply = b""
            if reply is not None:
                received[i] = reply
                continue
            if position < len(data):
                try:
                    sock.send(data[position : position + 1])
                except (BrokenPipeError, ConnectionResetError):
                    received[i] = b""
        position += 1
        if position == 4 and during is not None:
            during()
        time.sleep(0.25)
    return received


def test_headers_sent_a_byte_at_a_time_are_cut_with_408(daemon):
    """Twenty connections (each from its own address) trickling their headers
    are answered 408 and closed once [web] header_seconds have passed, though
    every byte arrives well within the idle timeout; DNS and SMTP answer others."""
    sockets = [connect(daemon, "http", f"127.0.3.{i}") for i in range(1, 21)]
    try:
        start = time.monotonic()
        request = b"GET / HTTP/1.1\r\nHost: acme.example\r\nX-Slow: " + b"a" * 200
        received = _trickle(sockets, request, LATE, during=lambda: assert_responsive(daemon))
        elapsed = time.monotonic() - start
        assert all(r is not None for r in received), f"{sum(r is None for r in received)} still open after {elapsed:.1f}s"
        assert all(r.startswith(b"HTTP/1.1 408 ") for r in received), received
    finally:
        for sock in sockets:
            sock.close()


def test_headers_trickled_after_cached_answers_are_cut_with_408(daemon, tmp_path):
    """A connection that was served a cached site file twice (the lean path,
    protocols.web.lean) and then trickles its next request's headers is
    answered 408 and closed once [web] header_seconds have passed."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_bytes(b"<!DOCTYPE html><title>Acme</title>\n")
    Cli(daemon.state, daemon.config)("site", "upload", "acme", str(tmp_path / "site"))
    request = b"GET / HTTP/1.1\r\nHost: acme.example\r\n\r\n"
    with connect(daemon, "http", "127.0.4.1") as sock:
        def served() -> bool:
            sock.sendall(request)
            return b"<title>Acme</title>" in until_answered(sock)

        wait_for(served, timeout=10, interval=0.1)  # the upload seen, then cached
        assert served()
        start = time.monotonic()
        [reply] = _trickle([sock], request[:-2] + b"X-Slow: " + b"a" * 200, LATE)
        assert reply is not None, f"still open after {time.monotonic() - start:.1f}s"
        assert reply.startswith(b"HTTP/1.1 408 "), reply


def until_answered(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def test_a_body_sent_slower_than_the_minimum_rate_is_cut_with_408(daemon):
    """A body trickled below [web] body_min_rate is answered 408 once its
    allowance ([web] body_seconds plus a second per body_min_rate bytes) is spent."""
    with connect(daemon, "http") as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: acme.example\r\nContent-Length: 100000\r\n\r\n")
        start = time.monotonic()
        [reply] = _trickle([sock], b"x" * 1000, LATE + 2)
        assert reply is not None, f"still open after {time.monotonic() - start:.1f}s"
        assert reply.startswith(b"HTTP/1.1 408 "), reply


def test_a_body_sent_at_a_fair_rate_is_read_to_the_end(daemon):
    """A body arriving faster than body_min_rate may take longer than body_seconds: it is read and answered."""
    with connect(daemon, "http") as sock:
        size = 8000  # at 2,000 bytes/s: 4 s, over body_seconds but within its allowance
        sock.sendall(b"POST / HTTP/1.1\r\nHost: acme.example\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(size // 500):
            sock.sendall(b"x" * 500)
            time.sleep(0.25)
        _, reply = until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 ") and not reply.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400")), reply[:60]


# --- connections per source -------------------------------------------------

REFUSALS = {
    "http": b"HTTP/1.1 503 ",
    "imap": b"* BYE [UNAVAILABLE] ",
    "smtp": b"421 4.7.0 ",
}
GREETINGS = {"imap": b"* OK", "smtp": b"220 "}


def _served(daemon, listener: str, source: str) -> bool:
    """Whether a new connection from ``source`` is served (greeted, or for
    HTTP answered), not refused."""
    with connect(daemon, listener, source) as sock:
        if listener == "http":
            sock.sendall(b"GET /missing HTTP/1.1\r\nHost: acme.example\r\nConnection: close\r\n\r\n")
        line = read_line(sock)
    if line.startswith(REFUSALS[listener]):
        return False
    assert line.startswith(GREETINGS.get(listener, b"HTTP/1.1 404 ")), line
    return True


@pytest.mark.parametrize("listener", ["http", "imap", "smtp"])
def test_one_source_gets_at_most_its_share_of_connections(daemon, listener):
    """With max_connections_per_source open from one address, the next one
    from it is refused with a clear reply and closed, another address is
    served, and once one closes the first address is served again."""
    source = {"http": "127.0.4.1", "imap": "127.0.4.2", "smtp": "127.0.4.3"}[listener]
    held = [connect(daemon, listener, source) for _ in range(CAP)]
    try:
        if listener in GREETINGS:
            for sock in held:
                assert read_line(sock).startswith(GREETINGS[listener])
        with connect(daemon, listener, source) as extra:
            elapsed, reply = until_closed(extra)
        assert reply.startswith(REFUSALS[listener]), reply
        assert _served(daemon, listener, "127.0.4.99")
        assert_responsive(daemon)
        held.pop().close()
        wait_for(lambda: _served(daemon, listener, source), timeout=LATE)
    finally:
        for sock in held:
            sock.close()


def test_tls_handshakes_count_against_the_source_on_every_listener_of_the_protocol(daemon):
    """Connections to IMAPS still in their handshake take the source's places,
    and the plain IMAP listener shares the same count."""
    source = "127.0.4.4"
    held = [connect(daemon, "imaps", source) for _ in range(CAP)]
    try:
        time.sleep(0.2)  # the server has accepted them
        with connect(daemon, "imap", source) as extra:
            _, reply = until_closed(extra)
        assert reply.startswith(REFUSALS["imap"]), reply
    finally:
        for sock in held:
            sock.close()
