"""The Sender Rewriting Scheme on forwarded mail: a redirect leaves with an
SRS return address of the user's domain and our DKIM signature (seen at the
loopback receiver standing for the rest of the Internet); a bounce to that
address comes back through the MX and goes on to the original sender,
signed by the forwarding domain; a redirect the far end refuses is reported
to the original sender by a signed bounce of ours; a forged or expired
address is refused at RCPT. Signatures are verified by dkimpy against the
key the box's own DNS server publishes."""

from __future__ import annotations

import email
import smtplib
import sqlite3
import time
import uuid

import dkim
import pytest

from appliance.srs import Codec
from tests.conftest import wait_for

from .conftest import signed_by

from .test_sieve import deliver, put_script, queue_rows, replies_to

BAD_RETURN = (550, b"5.1.1 Invalid or expired forwarding return address")


@pytest.fixture(autouse=True)
def no_rules(mta):
    yield
    mta.cli("sieve", "activate", "alice@acme.test", "")


def box_codec(mta) -> Codec:
    """The box's SRS, from the secrets in its database."""
    conn = sqlite3.connect((mta.state / "box.sqlite3").resolve().as_uri() + "?mode=ro", uri=True)
    try:
        secrets = [r[0] for r in conn.execute("SELECT secret FROM srs_secrets ORDER BY created DESC, id DESC")]
    finally:
        conn.close()
    return Codec(secrets, 21)


def acme_key_txt(mta) -> bytes:
    conn = mta.tenant_db("acme")
    try:
        row = conn.execute("SELECT selector, public_b64 FROM dkim_keys WHERE domain = 'acme.test'").fetchone()
    finally:
        conn.close()
    return row["selector"], f"v=DKIM1; k=rsa; p={row['public_b64']}".encode()


def forwarded(mta, tag: str):
    put_script(mta, "alice@acme.test", 'redirect "assistant@remote.test";')
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    return wait_for(lambda: replies_to(mta, "assistant@remote.test", tag))[0]


def rcpt(mta, address: str, sender: str = "") -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.ehlo("mx.remote.test")
        client.mail(sender)
        return client.rcpt(address)


def test_a_redirect_leaves_with_an_srs_sender_and_our_dkim_signature(mta):
    """The envelope sender is SRS0=...=remote.test=joe@acme.test and an acme.test DKIM signature verifies."""
    got = forwarded(mta, uuid.uuid4().hex)
    local, _, domain = got.mail_from.rpartition("@")
    assert domain == "acme.test"
    assert local.startswith("SRS0=") and local.endswith("=remote.test=joe")
    assert box_codec(mta).reverse(got.mail_from) == "joe@remote.test"
    selector, txt = acme_key_txt(mta)
    assert got.data.startswith(b"DKIM-Signature:") and b"d=acme.test" in got.data.split(b"\r\n\r\n")[0]

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return txt if name.decode().rstrip(".") == f"{selector}._domainkey.acme.test" else b""

    assert dkim.verify(got.data, dnsfunc=dns)


def test_a_bounce_to_the_srs_address_goes_back_to_the_original_sender(mta):
    """A DSN sent to the SRS address (null sender) is accepted and delivered on to joe@remote.test."""
    tag = uuid.uuid4().hex
    srs_address = forwarded(mta, tag).mail_from
    bounce = (
        f"From: MAILER-DAEMON@remote.test\r\nTo: <{srs_address}>\r\nSubject: Undelivered {tag}\r\n"
        f"Message-ID: <bounce.{tag}@remote.test>\r\n\r\nassistant@remote.test: mailbox full\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.ehlo("mx.remote.test")
        client.mail("")
        assert client.rcpt(srs_address)[0] == 250
        assert client.data(bounce)[0] == 250
    back = wait_for(lambda: [m for m in mta.remote.messages if f"bounce.{tag}".encode() in m.data])[0]
    assert back.rcpt_tos == ["joe@remote.test"] and back.mail_from == "<>"
    assert b"\r\nReceived: from mx.remote.test" in b"\r\n" + back.data
    assert signed_by(back.data, "acme.test", mta)


def test_a_redirect_refused_at_the_far_end_is_reported_to_the_original_sender_signed(mta):
    """The far end refuses the redirect (550): joe@remote.test gets a DSN from MAILER-DAEMON@acme.test, null
    sender, naming the refused address, DKIM-signed by acme.test (aligned with its From:)."""
    tag = uuid.uuid4().hex
    put_script(mta, "alice@acme.test", 'redirect "reject-assistant@remote.test";')
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    dsn = wait_for(lambda: [m for m in replies_to(mta, "joe@remote.test", tag) if b"delivery-status" in m.data])[0]
    report = email.message_from_bytes(dsn.data)
    assert dsn.mail_from == "<>" and dsn.rcpt_tos == ["joe@remote.test"]
    assert report["From"] == "Mail Delivery System <MAILER-DAEMON@acme.test>"
    assert report.get_content_type() == "multipart/report"
    assert b"Final-Recipient: rfc822; reject-assistant@remote.test" in dsn.data
    assert signed_by(dsn.data, "acme.test", mta)


def test_a_dsn_for_a_redirect_is_never_bounced_again(mta):
    """The DSN has a null sender: when the original sender's server refuses it too, nothing more is sent."""
    tag = uuid.uuid4().hex
    put_script(mta, "alice@acme.test", 'redirect "reject-assistant@remote.test";')
    deliver(mta, "invoice-from-customer.eml", tag=tag, sender="reject-joe@remote.test")
    wait_for(lambda: "bounce queued for <reject-joe@remote.test>" in mta.daemon.log())
    wait_for(lambda: not queue_rows(mta))
    assert [m for m in mta.remote.messages if tag.encode() in m.data] == []
    assert mta.daemon.log().count("bounce queued for <reject-joe@remote.test>") == 1


def test_a_forged_srs_address_is_refused_at_rcpt(mta):
    """An SRS address with a hash we did not make gets 550 5.1.1 at RCPT."""
    assert rcpt(mta, "SRS0=AAAAAAAA=J2=remote.test=joe@acme.test") == BAD_RETURN


def test_an_altered_srs_address_is_refused_at_rcpt(mta):
    """A valid address whose original sender was changed no longer verifies."""
    genuine = box_codec(mta).forward("joe@remote.test", "acme.test")
    assert rcpt(mta, genuine) == (250, b"2.1.5 OK")
    assert rcpt(mta, genuine.replace("=joe@", "=eve@")) == BAD_RETURN


def test_an_expired_srs_address_is_refused_at_rcpt(mta):
    """An address signed with the box's secret but made 30 days ago (limit 21) is refused."""
    old = box_codec(mta).forward("joe@remote.test", "acme.test", now=time.time() - 30 * 86_400)
    assert rcpt(mta, old) == BAD_RETURN


def test_after_a_rotation_new_addresses_use_the_new_secret_and_old_ones_still_verify(mta):
    """``appliance srs rotate``: the daemon signs with the new secret, and an address made before is still accepted."""
    before = box_codec(mta)
    old_address = before.forward("joe@remote.test", "acme.test")
    out = mta.cli("srs", "rotate").stdout
    assert "2 secrets verify" in out
    after = box_codec(mta)
    assert len(after.keys) == 2 and after.keys[1] == before.keys[0]
    assert rcpt(mta, old_address) == (250, b"2.1.5 OK")
    fresh = Codec([after.keys[0].decode()], 21)

    def signed_with_new() -> bool:
        got = forwarded(mta, uuid.uuid4().hex)
        try:
            return fresh.reverse(got.mail_from) == "joe@remote.test"
        except Exception:  # noqa: BLE001 - the daemon has not reloaded yet
            return False

    assert wait_for(signed_with_new, timeout=20, interval=0.5)
