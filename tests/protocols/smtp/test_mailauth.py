"""SPF, DKIM and DMARC on incoming mail, with the records served by the
stub DNS server on loopback (the daemon's configured resolver)."""

from __future__ import annotations

import smtplib
import uuid

import dkim
import pytest

from storage import dkim as dkimdb

KEY_PEM, KEY_PUBLIC = dkimdb.generate()


@pytest.fixture(scope="module", autouse=True)
def records(stub_dns):
    """signed.test: SPF allows 127.0.0.1, DKIM key published, DMARC p=reject.
    strict.test: SPF forbids 127.0.0.1, DMARC p=reject. lax.test: same SPF, DMARC p=none."""
    stub_dns.add_txt("signed.test", "v=spf1 ip4:127.0.0.1 -all")
    stub_dns.add_txt("sel._domainkey.signed.test", f"v=DKIM1; k=rsa; p={KEY_PUBLIC}")
    stub_dns.add_txt("_dmarc.signed.test", "v=DMARC1; p=reject")
    for name, policy in (("strict.test", "reject"), ("lax.test", "none")):
        stub_dns.add_txt(name, "v=spf1 ip4:192.0.2.1 -all")
        stub_dns.add_txt(f"_dmarc.{name}", f"v=DMARC1; p={policy}")


def signed(tag: str, sender: str = "news@signed.test") -> bytes:
    msg = (
        f"From: News <{sender}>\r\nTo: alice@acme.test\r\nSubject: {tag}\r\n"
        f"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{tag}@signed.test>\r\n\r\nsigned body\r\n"
    ).encode()
    return dkim.sign(msg, b"sel", b"signed.test", KEY_PEM, include_headers=[b"from", b"to", b"subject"], linesep=b"\r\n") + msg


def deliver(mta, mail_from: str, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=20) as client:
        client.ehlo("mail.signed.test")
        client.mail(mail_from)
        client.rcpt("alice@acme.test")
        return client.data(data)


def auth_results(mta, tag: str) -> bytes:
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    head = stored.split(b"\r\n\r\n", 1)[0]
    start = head.index(b"Authentication-Results:")
    return head[start:].split(b"\r\nFrom:", 1)[0].split(b"\r\nDKIM-Signature:", 1)[0]


def test_spf_dkim_and_dmarc_pass(mta):
    """A signed message from an SPF-allowed address gets spf=pass, dkim=pass and dmarc=pass."""
    tag = uuid.uuid4().hex
    assert deliver(mta, "news@signed.test", signed(tag))[0] == 250
    header = auth_results(mta, tag)
    assert b"spf=pass smtp.mailfrom=signed.test" in header
    assert b"dkim=pass header.d=signed.test" in header
    assert b"dmarc=pass (p=reject) header.from=signed.test" in header


def test_altered_body_fails_dkim(mta):
    """A body changed after signing gets dkim=fail (SPF still passes, so DMARC passes)."""
    tag = uuid.uuid4().hex
    data = signed(tag).replace(b"signed body", b"changed body")
    assert deliver(mta, "news@signed.test", data)[0] == 250
    header = auth_results(mta, tag)
    assert b"dkim=fail header.d=signed.test" in header and b"dmarc=pass" in header


def test_dmarc_reject_policy_refuses_the_message(mta):
    """From a p=reject domain, failing SPF and unsigned: 550 5.7.1 at DATA and nothing stored."""
    tag = uuid.uuid4().hex
    data = f"From: ceo@strict.test\r\nTo: alice@acme.test\r\nSubject: {tag}\r\n\r\npay this invoice\r\n".encode()
    code, text = deliver(mta, "ceo@strict.test", data)
    assert (code, text[:5]) == (550, b"5.7.1")
    assert not any(tag.encode() in m for m in mta.inbox("alice@acme.test"))


def test_dmarc_none_policy_failure_is_delivered_and_marked(mta):
    """From a p=none domain a failing message is delivered with spf=fail and dmarc=fail."""
    tag = uuid.uuid4().hex
    data = f"From: someone@lax.test\r\nTo: alice@acme.test\r\nSubject: {tag}\r\n\r\nhi\r\n".encode()
    assert deliver(mta, "someone@lax.test", data)[0] == 250
    header = auth_results(mta, tag)
    assert b"spf=fail" in header and b"dmarc=fail (p=none) header.from=lax.test" in header


def test_header_from_spoofing_a_reject_domain_with_an_aligned_looking_envelope(mta):
    """Envelope from signed.test (SPF pass) but From: strict.test is not aligned: rejected."""
    tag = uuid.uuid4().hex
    data = f"From: ceo@strict.test\r\nTo: alice@acme.test\r\nSubject: {tag}\r\n\r\nx\r\n".encode()
    code, _ = deliver(mta, "news@signed.test", data)
    assert code == 550


def test_forged_authentication_results_of_ours_are_removed(mta):
    """An Authentication-Results field bearing the box's own name that came with the message is dropped; others stay."""
    tag = uuid.uuid4().hex
    data = (
        "Authentication-Results: box.appliance.test;\r\n\tspf=pass smtp.mailfrom=bank.test;\r\n\tdmarc=pass\r\n"
        "Authentication-Results: other.example; spf=none\r\n"
        f"From: someone@lax.test\r\nSubject: {tag}\r\n\r\nhi\r\n"
    ).encode()
    assert deliver(mta, "someone@lax.test", data)[0] == 250
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    head = stored.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"Authentication-Results: box.appliance.test;") == 1  # ours, added on arrival
    assert b"bank.test" not in head
    assert b"Authentication-Results: other.example; spf=none" in head


def test_organisational_domain_follows_the_public_suffix_list():
    """DMARC alignment uses registrable domains: mail.shop.co.uk aligns with shop.co.uk, not with other.co.uk."""
    from appliance.mailauth import _aligned, organisational_domain

    assert organisational_domain("mail.shop.co.uk") == "shop.co.uk"
    assert organisational_domain("a.b.example.com") == "example.com"
    assert _aligned("mail.shop.co.uk", "shop.co.uk", strict=False)
    assert not _aligned("other.co.uk", "shop.co.uk", strict=False)
