"""Fixtures for the control panel tests: one daemon for the package with two
businesses - ``acme`` (``acme.example``: ann, its owner, and bob, staff) and
``other`` (``other.example``: olga, its owner) - and a browser-like HTTPS
client (:class:`PanelClient`) that keeps cookies, reads each page's CSRF
token and sends the ``Origin`` a browser sends.

The panel is reached at ``https://127.0.0.1:<port>/``: the box answers on its
addresses as on its host name.
"""

from __future__ import annotations

import imaplib
import re
import smtplib
import sqlite3
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import urllib3

from tests.conftest import TEST_CONFIG, Cli, Daemon, free_port
from tests.outsidemx import Receiver
from tests.publicdns import PublicDns

PASSWORD = "a long secret"
#: Many failed logins happen on purpose here, all from 127.0.0.1: the
#: throttle must not end the other tests.
PANEL_CONFIG = TEST_CONFIG.replace("max_failures = 5", "max_failures = 1000") + """
# The tests add many people to acme.
[plans.roomy]
max_users = 1000
# A web space a few photos fill (the image library's tests).
[plans.tiny]
web_mb = 1
# Sign-up is on for the rights walk and the sign-up tests; its own limit
# per source is tested on a daemon of its own (test_signup.py).
[signup]
enabled = true
per_hour = 1000
"""

#: A domain hosted elsewhere, whose mail server is :attr:`Env.outside`.
OUTSIDE = "outside.example"

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')


class PanelClient:
    """One browser's worth of panel requests over real HTTPS."""

    def __init__(self, base: str, language: str = "en"):
        self.base = base
        self.http = requests.Session()
        self.http.verify = False
        self.http.headers["Accept-Language"] = language
        self.last: requests.Response | None = None

    def get(self, path: str, **kw) -> requests.Response:
        self.last = self.http.get(self.base + path, allow_redirects=False, timeout=30, verify=False, **kw)
        return self.last

    def csrf(self) -> str:
        """The CSRF token of the page last seen (fetching ``/`` if none was)."""
        if self.last is None or not CSRF_RE.search(self.last.text):
            self.get("/home" if self.session_cookie() else "/")
        return CSRF_RE.search(self.last.text).group(1)

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, origin: str | None = "") -> requests.Response:
        fields = dict(data or {})
        if csrf:
            fields.setdefault("csrf", self.csrf())
        headers = {}
        if origin is not None:
            headers["Origin"] = origin or self.base
        self.last = self.http.post(self.base + path, data=fields, headers=headers, allow_redirects=False, timeout=30, verify=False)
        return self.last

    def sign_in(self, address: str, password: str = PASSWORD) -> requests.Response:
        self.get("/")
        reply = self.post("/", {"address": address, "password": password})
        return reply

    def session_cookie(self) -> str | None:
        return self.http.cookies.get("__Host-session")


@dataclass
class Env:
    cli: Cli
    daemon: Daemon
    state: Path
    #: The world's DNS that the panel's domain checks ask (tests.publicdns).
    public_dns: PublicDns | None = None
    #: The mail server of :data:`OUTSIDE` elsewhere on the Internet: the
    #: box's outgoing mail to that domain lands here.
    outside: Receiver | None = None

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.daemon.port('https')}"

    def client(self, language: str = "en") -> PanelClient:
        return PanelClient(self.base, language)

    def signed_in(self, address: str, password: str = PASSWORD, language: str = "en") -> PanelClient:
        client = self.client(language)
        reply = client.sign_in(address, password)
        assert reply.status_code == 303 and reply.headers["location"] == "/home", reply.text[:500]
        client.get("/home")
        return client

    def imap_login(self, address: str, password: str) -> bool:
        """Whether IMAP (over TLS) accepts ``address``/``password``."""
        with imaplib.IMAP4_SSL("127.0.0.1", self.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as conn:
            try:
                conn.login(address, password)
            except imaplib.IMAP4.error:
                return False
            conn.logout()
            return True

    def smtp_login(self, address: str, password: str) -> bool:
        """Whether SMTP submission (587-style, STARTTLS) accepts the login."""
        with smtplib.SMTP("127.0.0.1", self.daemon.port("submission"), timeout=30) as conn:
            conn.starttls(context=_no_verify())
            try:
                conn.login(address, password)
            except smtplib.SMTPAuthenticationError:
                return False
            return True

    def dav_status(self, address: str, password: str) -> int:
        """The status of a CalDAV PROPFIND on the user's calendars with this login."""
        reply = requests.request("PROPFIND", f"{self.base}/dav/{address}/", auth=(address, password),
                                 headers={"Depth": "0"}, verify=False, timeout=30)
        return reply.status_code

    def users(self, slug: str = "acme") -> list[str]:
        return sorted(u["address"] for u in self.cli.json("user", "list", slug))

    def box_sql(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Run SQL on the box database from outside the daemon (as an
        attacker with a copy, or to age a session)."""
        conn = sqlite3.connect(self.state / "box.sqlite3", timeout=10)
        try:
            with conn:
                return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


def _no_verify() -> ssl.SSLContext:
    # The box's certificate is self-signed; the TLS tests check it.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="package")
def env(tmp_path_factory) -> Env:
    work = tmp_path_factory.mktemp("panel")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    public_dns = PublicDns()
    outside = Receiver(free_port()).start()
    config.write_text(PANEL_CONFIG + public_dns.config()
                      + f'\n[smtp]\ntransport = ["{OUTSIDE}=127.0.0.1:{outside.port}"]\n')
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--name", "Acme Bakery", "--domain", "acme.example", "--plan", "roomy")
    cli("tenant", "add", "other", "--name", "Other Shop", "--domain", "other.example")
    for address in ("ann@acme.example", "bob@acme.example", "olga@other.example"):
        cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    public_dns.upstream = ("127.0.0.1", daemon.port("dns"))
    try:
        # The web routes learn of the new domains within a second or two.
        time.sleep(2.5)
        yield Env(cli, daemon, state, public_dns, outside)
    finally:
        daemon.stop()
        public_dns.close()
        outside.stop()
