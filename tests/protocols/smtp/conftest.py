"""Fixtures for the SMTP tests: a stub DNS server and a second SMTP server
(the "rest of the Internet") on loopback, and a daemon configured to use
both, with two businesses provisioned through the CLI.

Nothing here sends a packet off the machine: the daemon's resolver is the
stub, and every outbound route is a static transport to 127.0.0.1.
"""

from __future__ import annotations

import socket
import sqlite3
import ssl
import subprocess
import threading
import urllib.request
from pathlib import Path

import dkim
import dns.message
import dns.query
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance.settings import loopback_listen
from dnslib import QTYPE, RCODE, RR, DNSRecord, TXT

from appliance.tls import self_signed
from tests.conftest import PYTHON, ROOT, Cli, Daemon, free_port
from tests.outsidemx import Receiver

PASSWORD = "correct horse battery"


# -- stub DNS ---------------------------------------------------------------


class StubDNS:
    """An authoritative-looking UDP DNS server on 127.0.0.1 answering from a table."""

    def __init__(self) -> None:
        self.records: list[RR] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries: list[tuple[str, str]] = []
        #: Names answered with the AD bit, as a validating resolver does
        #: for a DNSSEC-signed zone.
        self.secure: set[str] = set()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def add(self, zone_line: str) -> None:
        self.records.extend(RR.fromZone(zone_line))

    def add_txt(self, name: str, text: str) -> None:
        chunks = [text[i : i + 250] for i in range(0, len(text), 250)]
        self.records.append(RR(name, QTYPE.TXT, rdata=TXT(chunks), ttl=60))

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                request = DNSRecord.parse(data)
            except Exception:  # noqa: BLE001 - ignore garbage
                continue
            reply = request.reply()
            q = request.q
            qname = str(q.qname).lower().rstrip(".")
            self.queries.append((qname, QTYPE[q.qtype]))
            known = [r for r in self.records if str(r.rname).lower().rstrip(".") == qname]
            for rr in known:
                if rr.rtype == q.qtype:
                    reply.add_answer(rr)
            if not known:
                reply.header.rcode = RCODE.NXDOMAIN
            # reply() copies the query's flags, AD included: set it only for signed names.
            reply.header.ad = int(qname in self.secure)
            self.sock.sendto(reply.pack(), addr)

    def close(self) -> None:
        self.sock.close()


# -- the other side: a plain SMTP receiver ------------------------------------


# -- the daemon ---------------------------------------------------------------


#: The [smtp] limits of the test daemon (small, so each can be reached).
SMTP_LIMITS = {
    "max_message_bytes": 3 * 1024 * 1024,
    "max_recipients": 5,
    "max_line_bytes": 1000,
    "max_header_bytes": 8192,
    "max_errors": 10,
    "max_commands": 200,
    "timeout": 3,
}


def mta_config(dns_port: int, routes: dict[str, int], mx_port: int, extra: str = "", **limits: int) -> str:
    transport = ", ".join(f'"{domain}=127.0.0.1:{port}"' for domain, port in routes.items())
    knobs = "\n".join(f"{k} = {v}" for k, v in {**SMTP_LIMITS, **limits}.items())
    return f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"

{loopback_listen()}
[auth]
max_failures = 50
failure_window = 60

[plans.tiny]
max_users = 3
mailbox_mb = 1
messages_per_day = 3

[smtp]
resolver = "127.0.0.1:{dns_port}"
dns_timeout = 2
{knobs}
retry_schedule = ["1s"]
mx_port = {mx_port}
transport = [{transport}]
{extra}
"""


class Mta:
    """The daemon under test plus what it talks to."""

    def __init__(self, root: Path, dns: StubDNS, extra: str = "", **limits: int):
        self.root = root
        self.dns = dns
        self.state = root / "state"
        self.state.mkdir()
        self.remote = Receiver(free_port())
        self.down = Receiver(free_port())
        cert, key = self_signed(root / "remote-tls", "mx.tls.test")
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        self.tls_remote = Receiver(free_port(), tls=server_tls)
        self.config = root / "appliance.toml"
        self.config.write_text(
            mta_config(
                dns.port,
                {"remote.test": self.remote.port, "down.test": self.down.port, "tls.test": self.tls_remote.port},
                self.remote.port, extra, **limits,
            )
        )
        self.cli = Cli(self.state, self.config)
        self.daemon = Daemon(self.state, self.config, root / "daemon.log")

    def port(self, name: str) -> int:
        return self.daemon.port(name)

    def tenant_db(self, slug: str) -> sqlite3.Connection:
        uri = (self.state / "tenants" / f"{slug}.sqlite3").resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def inbox(self, address: str) -> list[bytes]:
        """Messages in the INBOX of ``address``, read from the business file."""
        slug = {"acme.test": "acme", "globex.test": "globex", "tiny.test": "tiny"}[address.rpartition("@")[2]]
        conn = self.tenant_db(slug)
        try:
            return stored_messages(conn, address)
        finally:
            conn.close()


def stored_messages(conn: sqlite3.Connection, address: str, mailbox: str = "INBOX") -> list[bytes]:
    """Raw messages of one user's mailbox in UID order, read from the business file."""
    rows = conn.execute(
        "SELECT b.raw FROM users u JOIN mailboxes x ON x.user_id = u.id JOIN messages m ON m.mailbox_id = x.id"
        " JOIN body_blobs b ON b.id = m.body_id WHERE u.address = ? AND x.name = ? ORDER BY m.uid",
        (address, mailbox),
    )
    return [bytes(r[0]) for r in rows]


def provision(mta: Mta) -> None:
    cli = mta.cli
    cli("tenant", "add", "acme", "--domain", "acme.test")
    cli("tenant", "add", "globex", "--domain", "globex.test")
    cli("tenant", "add", "tiny", "--domain", "tiny.test", "--plan", "tiny")
    for user in ("alice@acme.test", "bob@acme.test", "carol@globex.test", "tim@tiny.test"):
        cli("user", "add", user, "--password-stdin", input=PASSWORD + "\n")
    cli("alias", "add", "sales@acme.test", "alice@acme.test", "bob@acme.test")
    cli("alias", "add", "@globex.test", "carol@globex.test")


@pytest.fixture(scope="session")
def stub_dns():
    dns = StubDNS()
    yield dns
    dns.close()


@pytest.fixture(scope="module")
def mta(tmp_path_factory, stub_dns):
    """A running daemon with businesses acme, globex (catch-all) and tiny (small plan)."""
    m = Mta(tmp_path_factory.mktemp("mta"), stub_dns)
    # The receivers bind the ports chosen for them before the seconds of
    # provisioning, in which another process could take a port free just now.
    m.remote.start()
    m.tls_remote.start()
    provision(m)
    m.daemon.start()
    yield m
    if m.daemon.proc is not None and m.daemon.proc.poll() is None:
        m.daemon.stop()
    m.remote.stop()
    m.down.stop()
    m.tls_remote.stop()


def tls_client_context() -> ssl.SSLContext:
    """The box certificate is self-signed in tests."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def queue_cli(mta: Mta, *args: str) -> subprocess.CompletedProcess:
    """``appliance queue ...`` (registered here if the CLI does not list it yet)."""
    script = (
        "import sys\n"
        "from appliance import cli\n"
        "from appliance.cli import queue\n"
        "build = cli.build_parser\n"
        "def patched():\n"
        "    parser = build()\n"
        "    sub = next(a for a in parser._actions if hasattr(a, 'choices') and isinstance(a.choices, dict))\n"
        "    if 'queue' not in sub.choices:\n"
        "        queue.register(sub)\n"
        "    return parser\n"
        "cli.build_parser = patched\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    cmd = [PYTHON, "-c", script, "--state", str(mta.state), "--config", str(mta.config), "queue", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)


def published_dns(mta):
    """A dkimpy DNS function that asks the box's DNS server (on loopback)."""

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        query = dns.message.make_query(name.decode(), "TXT")
        answer = dns.query.udp(query, "127.0.0.1", port=mta.port("dns"), timeout=timeout)
        return b"".join(b"".join(r.strings) for rrset in answer.answer for r in rrset)

    return lookup


def signed_by(data: bytes, domain: str, mta) -> bool:
    """Whether ``data`` carries a DKIM signature of ``domain`` that verifies
    against the box's published key (the first signature is checked)."""
    head = data.split(b"\r\n\r\n")[0]
    return data.startswith(b"DKIM-Signature:") and f"d={domain};".encode() in head.replace(b"\r\n\t", b" ") \
        and dkim.verify(data, dnsfunc=published_dns(mta))


def scrape(mta, name: str, **labels: str) -> float:
    """The value of sample ``name`` with ``labels`` on the daemon's metrics
    endpoint, scraped over HTTP now (0 when absent)."""
    url = f"http://127.0.0.1:{mta.port('metrics')}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
