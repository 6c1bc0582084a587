"""The world's DNS, as a domain check sees it, in one small server on
127.0.0.1 (UDP and TCP on one ephemeral port).

A domain check asks a resolver what the world sees. In the tests that
resolver is :class:`PublicDns`, which plays the internet: a domain is
unknown (NXDOMAIN) until the test *delegates* it, as an owner would at the
registrar; from then on every question about names in it is passed to the
box's own DNS listener and its answer returned as is, so the check sees
exactly what the daemon serves. A test may also *publish* records of its
own for a name, as DNS hosted elsewhere would, to see a check find the
wrong value.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

TIMEOUT = 5


class PublicDns:
    """See module doc. ``upstream`` is the box's DNS listener (set once the
    daemon has bound it)."""

    def __init__(self) -> None:
        self.upstream: tuple[str, int] | None = None
        self.delegated: set[str] = set()
        self.published: dict[tuple[str, str], list[str]] = {}
        self.questions = 0
        self._lock = threading.Lock()
        owner = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                sock.sendto(owner.answer(data, tcp=False), self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(TIMEOUT)
                head = _read(self.request, 2)
                reply = owner.answer(_read(self.request, struct.unpack("!H", head)[0]), tcp=True)
                self.request.sendall(struct.pack("!H", len(reply)) + reply)

        self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", 0), Udp)
        self.port = self.udp.server_address[1]
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Tcp)
        for server in (self.udp, self.tcp):
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def config(self) -> str:
        """The ``[panel]`` settings that make the daemon's checks ask this server."""
        return f'\n[panel]\ncheck_resolver = "127.0.0.1:{self.port}"\ncheck_seconds = 2\ncheck_cache_seconds = 2\n'

    def delegate(self, domain: str) -> None:
        """The registrar now points ``domain`` at the box's name servers."""
        with self._lock:
            self.delegated.add(domain)

    def publish(self, name: str, rtype: str, values: list[str]) -> None:
        """Answer ``name``/``rtype`` with ``values`` (zone-file text) whoever serves the rest."""
        with self._lock:
            self.published[(name, rtype)] = values

    def answer(self, wire: bytes, tcp: bool) -> bytes:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.questions += 1
            published = self.published.get((name, rtype))
            delegated = any(name == d or name.endswith("." + d) for d in self.delegated)
        if published is not None:
            reply = dns.message.make_response(query)
            reply.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rtype, published))
            return reply.to_wire()
        if delegated and self.upstream is not None:
            return _forward(wire, self.upstream, tcp)
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply.to_wire()

    def close(self) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _forward(wire: bytes, upstream: tuple[str, int], tcp: bool) -> bytes:
    if tcp:
        with socket.create_connection(upstream, timeout=TIMEOUT) as sock:
            sock.sendall(struct.pack("!H", len(wire)) + wire)
            return _read(sock, struct.unpack("!H", _read(sock, 2))[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendto(wire, upstream)
        return sock.recv(65535)
