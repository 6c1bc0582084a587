"""The web service of a production-like configuration on real listeners: the
ACME challenge registry, what a real certificate switches on (HTTP
redirected to HTTPS except ACME challenges, Strict-Transport-Security), and
client set-up advertising the public ports rather than the bound ones."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT, TEST_CONFIG, Cli

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
KEY_AUTHORIZATION = TOKEN + ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
STYLE = b"body { color: #222; }\n" * 50


class Server:
    def __init__(self, proc: subprocess.Popen, listeners: dict):
        self.proc = proc
        self.listeners = listeners

    def port(self, name: str) -> int:
        return self.listeners[name][0][1]

    def command(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("acme")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=box.appliance.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG + f'\n[tls]\ncert_file = "{cert}"\nkey_file = "{key}"\n\n[web]\nhsts_seconds = 31536000\n'
                      "advertise_imaps = 993\nadvertise_submissions = 465\nadvertise_submission = 587\nadvertise_https = 443\n")
    state = work / "state"
    state.mkdir()
    Cli(state, config)("tenant", "add", "acme", "--domain", "acme.example")
    (work / "site").mkdir()
    (work / "site" / "style.css").write_bytes(STYLE)
    Cli(state, config)("site", "upload", "acme", str(work / "site"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.protocols.web.acme_server", str(state), str(config)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line, "the web service did not start"
        yield Server(proc, json.loads(line))
    finally:
        proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def curl(server: Server, host: str, path: str, scheme: str = "http") -> tuple[int, dict[str, str], str]:
    port = server.port(scheme)
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "20", "--resolve", f"{host}:{port}:127.0.0.1", "-D", "-",
         f"{scheme}://{host}:{port}{path}"],
        capture_output=True, timeout=30, check=True,
    ).stdout.decode("latin-1")  # bytes: text mode would turn CRLF into LF
    head, _, body = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("host", ["acme.example", "unknown.example", "box.appliance.test"])
def test_a_registered_challenge_is_served_over_plain_http_on_any_host(server, host):
    """After set_challenge the key authorization is served at its path over HTTP, never redirected."""
    server.command(f"set {TOKEN} {KEY_AUTHORIZATION}")
    status, _, body = curl(server, host, f"/.well-known/acme-challenge/{TOKEN}")
    assert (status, body) == (200, KEY_AUTHORIZATION)


def test_a_cleared_or_unknown_challenge_is_the_neutral_404(server):
    """clear_challenge removes it; unknown and malformed tokens get 404 too."""
    server.command(f"set {TOKEN} {KEY_AUTHORIZATION}")
    server.command(f"clear {TOKEN}")
    for path in (TOKEN, "other-token", "..%2f..%2fetc", f"{TOKEN}/extra"):
        status, _, body = curl(server, "acme.example", f"/.well-known/acme-challenge/{path}")
        assert status == 404 and KEY_AUTHORIZATION not in body, path


def test_http_redirects_to_https_once_a_real_certificate_is_configured(server):
    """With [tls] cert_file set, a page over HTTP is redirected to the same URL over HTTPS on the public port."""
    status, headers, _ = curl(server, "acme.example", "/about/?a=1")
    assert status == 301
    # advertise_https = 443: the public port, left out of the URL.
    assert headers["location"] == "https://acme.example/about/?a=1"


def test_unknown_hosts_are_not_redirected(server):
    """An unhosted name still gets the neutral 404 over HTTP, not a redirect naming it."""
    status, headers, _ = curl(server, "unknown.example", "/")
    assert status == 404 and "location" not in headers


def test_hsts_is_sent_over_https_only(server):
    """Strict-Transport-Security carries [web] hsts_seconds over HTTPS and is absent over HTTP."""
    _, secure, _ = curl(server, "acme.example", "/", scheme="https")
    _, plain, _ = curl(server, "acme.example", f"/.well-known/acme-challenge/{TOKEN}")
    assert secure["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in plain


def test_cached_site_files_keep_hsts_and_the_https_redirect(server):
    """A site file asked again (an answer from memory, protocols.web.lean)
    still carries Strict-Transport-Security over HTTPS, and over HTTP is
    still redirected to HTTPS."""
    for _ in range(3):
        status, headers, body = curl(server, "acme.example", "/style.css", scheme="https")
        assert (status, body) == (200, STYLE.decode())
        assert headers["strict-transport-security"] == "max-age=31536000"
    status, headers, _ = curl(server, "acme.example", "/style.css")
    assert status == 301 and headers["location"] == "https://acme.example/style.css"


def test_autoconfig_advertises_the_configured_public_ports(server):
    """With [web] advertise_* set, config-v1.1.xml names 993, 465, 587 and https://host/dav/, not the bound ports."""
    status, _, body = curl(server, "autoconfig.acme.example", "/mail/config-v1.1.xml", scheme="https")
    assert status == 200
    root = ET.fromstring(body)
    ports = [(s.findtext("socketType"), int(s.findtext("port"))) for s in root.find("emailProvider")
             if s.tag in ("incomingServer", "outgoingServer")]
    assert ports == [("SSL", 993), ("SSL", 465), ("STARTTLS", 587)]
    assert root.find("calendar").findtext("serverURL") == "https://box.appliance.test/dav/"
