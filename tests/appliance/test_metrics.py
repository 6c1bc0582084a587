"""The metrics endpoint: real clients make the counters move, a bearer
token guards the figures, and a non-loopback bind without one is refused.

One daemon for the module (with a token), one business ``metrics.test``
with one user, and a remote mail server for ``far.example`` (a static
route); each test reads the figures before and after what it does.
"""

from __future__ import annotations

import imaplib
import smtplib
import ssl
import time
import urllib.error
import urllib.request

import dns.message
import dns.query
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appliance import settings
from appliance.errors import ConfigError
from appliance.testing import free_port
from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.protocols.smtp.conftest import Receiver

TOKEN = "scrape-secret-0123456789"
ADDRESS = "ann@metrics.test"
PASSWORD = "a long metrics password"


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    state = root / "state"
    state.mkdir()
    config = root / "appliance.toml"
    far = Receiver(free_port()).start()
    config.write_text(TEST_CONFIG + f'\n[metrics]\ntoken = "{TOKEN}"\n'
                      f'\n[smtp]\ntransport = ["far.example=127.0.0.1:{far.port}"]\n')
    cli = Cli(state, config)
    cli("tenant", "add", "metrics", "--domain", "metrics.test")
    cli("user", "add", ADDRESS, "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, root / "daemon.log").start()
    yield daemon
    daemon.stop()
    far.stop()


def scrape(daemon: Daemon, token: str | None = TOKEN) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one GET /metrics."""
    request = urllib.request.Request(f"http://127.0.0.1:{daemon.port('metrics')}/metrics")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def value(samples: dict, metric: str, **labels: str) -> float:
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def eventually(daemon: Daemon, check, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(daemon)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def tls_client() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_scrape_without_the_token_is_refused_and_health_is_open(box):
    """With [metrics] token set, /metrics without it (or with another) is 401; /healthz needs none."""
    for token in (None, "wrong"):
        with pytest.raises(urllib.error.HTTPError) as err:
            scrape(box, token)
        assert err.value.code == 401
    with urllib.request.urlopen(f"http://127.0.0.1:{box.port('metrics')}/healthz", timeout=10) as resp:
        assert resp.status == 200


def test_non_loopback_bind_without_a_token_is_a_config_error():
    """Binding the metrics listener beyond loopback needs a token: refused at load, naming the key."""
    with pytest.raises(ConfigError, match=r"\[metrics\] token: required"):
        settings.from_mapping({"metrics": {"addresses": ["0.0.0.0"]}})
    assert settings.from_mapping({"metrics": {"addresses": ["0.0.0.0"], "token": TOKEN}}).metrics.token == TOKEN


def test_process_and_loop_lag_histogram_are_exported(box):
    """process_* come from the daemon's own process and the loop lag is a histogram with samples."""
    samples = eventually(box, lambda s: value(s, "appliance_loop_lag_seconds_count") > 0)
    assert value(samples, "process_resident_memory_bytes") > 1_000_000
    assert value(samples, "appliance_loop_lag_seconds_count") > 0
    assert value(samples, "appliance_loop_lag_seconds_bucket", le="+Inf") == value(samples, "appliance_loop_lag_seconds_count")


def test_start_up_heap_is_frozen_out_of_the_collector(box):
    """The daemon froze what start-up built out of the garbage collector's
    scans (a full collection then walks only what came since), and counts
    the collections by generation."""
    samples = scrape(box)
    assert value(samples, "appliance_gc_frozen_objects") > 10_000
    assert value(samples, "python_gc_collections_total", generation="0") > 0


def test_imap_logins_are_counted_by_result(box):
    """A wrong password and a right one over IMAP move failed and succeeded for protocol imap."""
    before = scrape(box)
    with imaplib.IMAP4_SSL("127.0.0.1", box.port("imaps"), ssl_context=tls_client(), timeout=30) as conn:
        with pytest.raises(imaplib.IMAP4.error):
            conn.login(ADDRESS, "not the password")
    with imaplib.IMAP4_SSL("127.0.0.1", box.port("imaps"), ssl_context=tls_client(), timeout=30) as conn:
        conn.login(ADDRESS, PASSWORD)
        conn.logout()
    after = scrape(box)
    for result in ("failed", "succeeded"):
        assert value(after, "appliance_logins_total", protocol="imap", result=result) == \
            value(before, "appliance_logins_total", protocol="imap", result=result) + 1


def test_imap_sessions_and_idle_are_gauges(box):
    """An open IMAP session in IDLE shows as one session and one IDLE; both fall back when it ends."""
    # Sessions of earlier tests may still be closing on the daemon's side.
    before = eventually(box, lambda s: value(s, "appliance_imap_sessions") == 0)
    assert value(before, "appliance_imap_sessions") == 0
    conn = imaplib.IMAP4_SSL("127.0.0.1", box.port("imaps"), ssl_context=tls_client(), timeout=30)
    conn.login(ADDRESS, PASSWORD)
    conn.select("INBOX")
    tag = conn._new_tag().decode()
    conn.send(f"{tag} IDLE\r\n".encode())
    assert conn.readline().startswith(b"+")
    during = eventually(box, lambda s: value(s, "appliance_imap_idle") == value(before, "appliance_imap_idle") + 1)
    assert value(during, "appliance_imap_idle") == value(before, "appliance_imap_idle") + 1
    assert value(during, "appliance_imap_sessions") == value(before, "appliance_imap_sessions") + 1
    conn.send(b"DONE\r\n")
    assert conn.readline().startswith(tag.encode() + b" OK")
    conn.logout()
    after = eventually(box, lambda s: value(s, "appliance_imap_sessions") == value(before, "appliance_imap_sessions"))
    assert value(after, "appliance_imap_sessions") == value(before, "appliance_imap_sessions")
    assert value(after, "appliance_imap_idle") == value(before, "appliance_imap_idle")


def test_mail_received_is_counted(box):
    """A message to a hosted user, accepted with 250 after DATA, counts as received on mx."""
    before = scrape(box)
    with smtplib.SMTP("127.0.0.1", box.port("smtp"), timeout=30) as smtp:
        smtp.ehlo("client.example")
        assert smtp.mail("someone@sender.example")[0] == 250
        assert smtp.rcpt(ADDRESS)[0] == 250
        assert smtp.data(b"Subject: hi\r\nFrom: someone@sender.example\r\n\r\nhello\r\n")[0] == 250
    after = scrape(box)
    assert value(after, "appliance_mail_received_total", listener="mx") == value(before, "appliance_mail_received_total", listener="mx") + 1


def test_refused_recipients_are_counted_by_reason(box):
    """A relay attempt counts under relay_denied, an unknown user of a hosted domain under not_found."""
    before = scrape(box)
    with smtplib.SMTP("127.0.0.1", box.port("smtp"), timeout=30) as smtp:
        smtp.ehlo("client.example")
        assert smtp.mail("someone@sender.example")[0] == 250
        assert smtp.rcpt("nobody@elsewhere.example")[0] == 550
        assert smtp.rcpt("nobody@metrics.test")[0] == 550
        smtp.rset()
    after = scrape(box)
    for reason in ("relay_denied", "not_found"):
        assert value(after, "appliance_smtp_refused_total", reason=reason) == \
            value(before, "appliance_smtp_refused_total", reason=reason) + 1


def test_submitted_mail_without_a_route_is_queued_and_deferred(box):
    """Mail submitted to a remote domain the box cannot route shows in the queue depth and as deferred."""
    before = scrape(box)
    with smtplib.SMTP("127.0.0.1", box.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=tls_client())
        smtp.login(ADDRESS, PASSWORD)
        smtp.sendmail(ADDRESS, ["far@remote.example"], f"From: {ADDRESS}\r\nSubject: out\r\n\r\nbye\r\n".encode())
    after = eventually(box, lambda s: value(s, "appliance_mail_outbound_total", result="deferred")
                       > value(before, "appliance_mail_outbound_total", result="deferred")
                       and value(s, "appliance_queue_messages") >= 1)
    assert value(after, "appliance_mail_received_total", listener="submission") == \
        value(before, "appliance_mail_received_total", listener="submission") + 1
    assert value(after, "appliance_mail_outbound_total", result="deferred") > \
        value(before, "appliance_mail_outbound_total", result="deferred")
    assert value(after, "appliance_queue_messages") >= 1
    assert value(after, "appliance_queue_oldest_age_seconds") >= 0


def test_delivered_and_bounced_recipients_are_counted(box):
    """One message to a recipient the far server takes and one it refuses with 550 counts one sent, one bounced."""
    before = scrape(box)
    with smtplib.SMTP("127.0.0.1", box.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=tls_client())
        smtp.login(ADDRESS, PASSWORD)
        smtp.sendmail(ADDRESS, ["friend@far.example", "reject-me@far.example"],
                      f"From: {ADDRESS}\r\nSubject: two\r\n\r\nhi\r\n".encode())
    after = eventually(box, lambda s: value(s, "appliance_mail_outbound_total", result="bounced")
                       > value(before, "appliance_mail_outbound_total", result="bounced"))
    for result in ("sent", "bounced"):
        assert value(after, "appliance_mail_outbound_total", result=result) == \
            value(before, "appliance_mail_outbound_total", result=result) + 1


def test_dns_answers_are_counted_by_rcode(box):
    """A query in a hosted zone counts NOERROR; one outside every zone counts REFUSED."""
    before = scrape(box)
    for name in ("metrics.test.", "not-hosted.example."):
        dns.query.udp(dns.message.make_query(name, "SOA"), "127.0.0.1", port=box.port("dns"), timeout=5)
    after = scrape(box)
    for rcode in ("NOERROR", "REFUSED"):
        assert value(after, "appliance_dns_queries_total", rcode=rcode) == value(before, "appliance_dns_queries_total", rcode=rcode) + 1


def test_http_and_dav_requests_are_counted(box):
    """A DAV PROPFIND counts under its method and status with a duration; every request counts by status."""
    before = scrape(box)
    request = urllib.request.Request(f"http://127.0.0.1:{box.port('http')}/dav/", method="PROPFIND",
                                     headers={"Depth": "0"})
    try:
        urllib.request.urlopen(request, timeout=30)
    except urllib.error.HTTPError as exc:
        status = str(exc.code)
    else:
        status = "207"
    # The response can reach the client a moment before the request is
    # finished (and counted) on the daemon's side.
    after = eventually(box, lambda s: value(s, "appliance_http_requests_total", status=status)
                       > value(before, "appliance_http_requests_total", status=status))
    assert value(after, "appliance_dav_requests_total", method="PROPFIND", status=status) == \
        value(before, "appliance_dav_requests_total", method="PROPFIND", status=status) + 1
    assert value(after, "appliance_dav_request_seconds_count", method="PROPFIND") == \
        value(before, "appliance_dav_request_seconds_count", method="PROPFIND") + 1
    assert value(after, "appliance_http_requests_total", status=status) == value(before, "appliance_http_requests_total", status=status) + 1


def test_certificate_expiry_and_open_files_are_exported(box):
    """The box certificate's expiry is exported under the host name; business files open is a gauge."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(box.ca_file.read_bytes())
    samples = scrape(box)
    assert value(samples, "appliance_certificate_expiry_timestamp_seconds", name="box.appliance.test") == \
        cert.not_valid_after_utc.timestamp()
    assert ("appliance_tenant_files_open", ()) in samples
