"""Two boxes on distinct loopback addresses (box A on 127.0.0.2, box B on
127.0.0.3), each a daemon with its own state, sharing the free-domain
zone ``appliance.test`` as boxes of one fleet do. Box B has a write API key
that box A's CLI uses to move businesses there.

The boxes live for the module; each test makes businesses of its own
(unique slugs and domains).
"""

from __future__ import annotations

import imaplib
import itertools
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from appliance.testing import Cli, Daemon
from tests.conftest import TEST_CONFIG

PASSWORD = "fleet pass word 1"
_COUNTER = itertools.count(1)
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def config(host: str, address: str, extra: str = "") -> str:
    text = TEST_CONFIG.replace('hostname = "box.appliance.test"', f'hostname = "{host}"\nipv4 = ["{address}"]')
    text = text.replace('addresses = ["127.0.0.1"]', f'addresses = ["{address}"]')
    assert host in text and address in text
    return text + f'\n[dns]\ncatalog = "{host.partition(".")[0]}.catalog.invalid"\n' + extra


def client_context() -> ssl.SSLContext:
    # The protocol is under test here, not the certificate.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class Box:
    name: str
    host: str
    cli: Cli
    daemon: Daemon

    @property
    def address(self) -> str:
        return self.daemon.listeners["https"][0][0]

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.daemon.port('https')}"

    def business(self) -> tuple[str, str, str]:
        """A new business with one user: (slug, domain, address)."""
        n = next(_COUNTER)
        slug, domain = f"shop{n}", f"shop{n}.example"
        self.cli("tenant", "add", slug, "--domain", domain)
        address = f"ann@{domain}"
        self.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
        return slug, domain, address

    def smtp(self) -> smtplib.SMTP:
        return smtplib.SMTP(self.address, self.daemon.port("smtp"), timeout=30)

    def imap(self, address: str) -> imaplib.IMAP4_SSL:
        conn = imaplib.IMAP4_SSL(self.address, self.daemon.port("imaps"), ssl_context=client_context(), timeout=30)
        conn.login(address, PASSWORD)
        return conn

    def dav_url(self, address: str, name: str = "") -> str:
        return f"http://{self.address}:{self.daemon.port('http')}/dav/{address}/calendar/{name}"

    def put_event(self, address: str, uid: str, **kwargs) -> requests.Response:
        return requests.put(self.dav_url(address, f"{uid}.ics"), data=event(uid), headers=ICS,
                            auth=(address, PASSWORD), timeout=30, **kwargs)


def event(uid: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fleet test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\n"
        f"SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def start_box(base: Path, name: str, address: str, extra: str = "") -> Box:
    state = base / name / "state"
    state.mkdir(parents=True)
    path = base / name / "appliance.toml"
    host = f"{name}.fleet.test"
    path.write_text(config(host, address, extra))
    cli = Cli(state, path)
    daemon = Daemon(state, path, base / name / "daemon.log").start()
    return Box(name, host, cli, daemon)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """(box A, box B, B's write API key)."""
    base = tmp_path_factory.mktemp("fleet")
    a = start_box(base, "a", "127.0.0.2")
    try:
        b = start_box(base, "b", "127.0.0.3", "\n[fleet]\nmax_move_bytes = 8388608\n")
    except BaseException:
        a.daemon.stop()
        raise
    try:
        token = b.cli.json("apikey", "add", "fleet-a", "--scope", "write")["token"]
        yield a, b, token
    finally:
        for box in (a, b):
            if box.daemon.running():
                box.daemon.stop()


def move(a: Box, b: Box, token: str, slug: str, *extra: str, check: bool = True):
    """``appliance tenant move`` on box A (a subprocess)."""
    return a.cli("tenant", "move", slug, "--to", b.url, "--address", b.address, "--ca-file",
                 str(b.daemon.ca_file), "--token-stdin", *extra, input=token + "\n", check=check)
