"""The bounce a branded box writes: read back over IMAP, its human-readable
part names the reseller's brand (``[brand] name``) and the box; its
machine-readable parts stay standard RFC 3464."""

from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib
import uuid

import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD, Mta, provision, tls_client_context

BRAND = "Nimbus Hosting"


@pytest.fixture(scope="module")
def branded_mta(tmp_path_factory, stub_dns):
    m = Mta(tmp_path_factory.mktemp("mta-brand"), stub_dns, extra=f'[brand]\nname = "{BRAND}"\n')
    m.remote.start()  # bound before provisioning: no other process takes its port meanwhile
    provision(m)
    m.daemon.start()
    yield m
    m.daemon.stop()
    m.remote.stop()


def _imap_dsn(mta: Mta, address: str, tag: str) -> bytes | None:
    """The bounce in ``address``'s INBOX that quotes the message ``tag``, over IMAPS."""
    with imaplib.IMAP4_SSL("127.0.0.1", mta.port("imaps"), ssl_context=tls_client_context(), timeout=10) as imap:
        imap.login(address, PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.uid("SEARCH", None, "FROM", "MAILER-DAEMON", "BODY", tag)
        uids = data[0].split()
        if not uids:
            return None
        _typ, parts = imap.uid("FETCH", uids[-1], "(BODY.PEEK[])")
        return parts[0][1]


def test_a_bounce_read_over_imap_names_the_brand_in_its_human_readable_part(branded_mta):
    """alice writes to an address the far end refuses (550 5.1.1); the
    report she then reads over IMAP is multipart/report; its text part
    says it comes from the mail system of Nimbus Hosting at the box's host
    name; its delivery-status part is the standard one, without the brand."""
    tag = uuid.uuid4().hex
    body = f"From: Alice <alice@acme.test>\r\nTo: reject-brand@remote.test\r\nSubject: {tag}\r\n\r\nhello\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", branded_mta.port("submissions"), timeout=10,
                          context=tls_client_context()) as client:
        client.login("alice@acme.test", PASSWORD)
        client.sendmail("alice@acme.test", ["reject-brand@remote.test"], body.encode())
    raw = wait_for(lambda: _imap_dsn(branded_mta, "alice@acme.test", tag), timeout=15)
    dsn = email.message_from_bytes(raw, policy=email.policy.SMTP)
    assert (dsn.get_content_type(), dsn.get_param("report-type")) == ("multipart/report", "delivery-status")
    text, status, _headers = dsn.get_payload()
    assert text.get_content().startswith(f"This is the mail system of {BRAND} (box.appliance.test).")
    assert "reject-brand@remote.test" in text.get_content()
    assert status.get_content_type() == "message/delivery-status"
    assert status.get_payload()[0]["Reporting-MTA"] == "dns; box.appliance.test"
    assert BRAND.encode() not in raw.split(b"message/delivery-status", 1)[1]


def test_imap_id_answers_with_the_brand_not_the_software(branded_mta):
    """A client's RFC 2971 ID gets the brand's name back."""
    with imaplib.IMAP4_SSL("127.0.0.1", branded_mta.port("imaps"), ssl_context=tls_client_context(), timeout=10) as imap:
        typ, _ = imap.xatom("ID", '("name" "imaplib")')
        assert typ == "OK"
        assert imap.untagged_responses["ID"] == [f'("name" "{BRAND}")'.encode()]
