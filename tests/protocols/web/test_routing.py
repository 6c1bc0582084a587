"""HTTP(S) in the daemon: routing by Host, the neutral 404, the RFC 6764
redirects, and CalDAV reached through them by a real client."""

from __future__ import annotations

import subprocess
import uuid

import pytest

PASSWORD = "a long secret"


@pytest.fixture
def web(cli, daemon):
    cli("tenant", "add", "acme", "--domain", "acme.example")
    cli("user", "add", "ann@acme.example", "--password-stdin", input=PASSWORD + "\n")

    def curl(path: str, host: str, *args: str, scheme: str = "https") -> tuple[int, str, str]:
        port = daemon.port(scheme)
        out = subprocess.run(
            ["curl", "-sk", "--max-time", "20", "-H", f"Host: {host}", "-o", "-", "-w", "\n%{http_code} %{redirect_url}",
             *args, f"{scheme}://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        body, _, tail = out.rpartition("\n")
        code, _, location = tail.partition(" ")
        return int(code), location, body

    web.port = daemon.port  # type: ignore[attr-defined]
    curl.port = daemon.port  # type: ignore[attr-defined]
    # The daemon learns of the new domain within a second or two.
    subprocess.run(["sleep", "2.5"], check=True)
    return curl


def test_well_known_redirects_to_the_dav_root_on_hosted_names(web):
    """/.well-known/caldav and carddav answer 301 to /dav/ on a business domain, its www. and the box name."""
    for host in ("acme.example", "www.acme.example", "box.appliance.test"):
        for service in ("caldav", "carddav"):
            code, location, _ = web(f"/.well-known/{service}", host)
            assert code == 301 and location.endswith("/dav/"), (host, service)


def test_unknown_host_gets_the_same_404_as_a_missing_page(web):
    """An unhosted name and a missing path on a hosted one give byte-identical 404s."""
    unknown = web("/.well-known/caldav", "other.example")
    missing = web("/no/such/page", "acme.example")
    assert unknown[0] == missing[0] == 404
    assert unknown[2] == missing[2]
    assert "acme" not in unknown[2]


def test_plain_http_routes_the_same_way(web):
    """The HTTP listener redirects /.well-known/caldav too."""
    code, location, _ = web("/.well-known/caldav", "acme.example", scheme="http")
    assert code == 301 and location.endswith("/dav/")


def test_https_refuses_tls_below_1_2(web):
    """TLS 1.1 is refused by the HTTPS listener; TLS 1.2 works."""
    port = web.port("https")
    old = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_1"], input="", capture_output=True, text=True, timeout=30)
    assert "Cipher is (NONE)" in old.stdout or old.returncode != 0
    new = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2"], input="", capture_output=True, text=True, timeout=30)
    assert "Protocol  : TLSv1.2" in new.stdout or "TLSv1.2" in new.stdout


def test_caldav_client_discovers_and_writes_through_the_daemon(web):
    """The caldav library, given only the server, finds ann's calendars and stores an event (201 after commit)."""
    import caldav

    url = f"https://127.0.0.1:{web.port('https')}/"
    with caldav.DAVClient(url=url, username="ann@acme.example", password=PASSWORD, ssl_verify_cert=False) as client:
        principal = client.principal()
        calendars = principal.calendars()
        assert calendars, "no calendars found"
        calendar = calendars[0]
        uid = str(uuid.uuid4())
        calendar.save_event(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261125T100000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
            "SUMMARY:Delivery from the mill\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        found = [e for e in calendar.events() if uid in e.data]
        assert len(found) == 1 and "Delivery from the mill" in found[0].data
