"""Mail that claims a domain hosted here, from a client our own records do
not allow (#24 item 3), DMARC quarantine into Junk and several DMARC
records (#14 item 9), and postmaster@ every hosted domain (RFC 5321 4.5.1).

The box's published address is 127.0.0.1 (the default ``[box] ipv4``), so
its zones say ``acme.test. TXT "v=spf1 mx -all"`` with the MX resolving to
127.0.0.1. A client connecting from 127.0.0.2 (still loopback) is "not
this box": every attack below comes from there.
"""

from __future__ import annotations

import smtplib
import statistics
import uuid

import pytest

from tests.conftest import wait_for
from tests.protocols import liveness

from .conftest import PASSWORD, stored_messages, tls_client_context

OUTSIDE = "127.0.0.2"


def mx(mta, source: str = OUTSIDE) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=20, source_address=(source, 0))
    client.ehlo("mail.attacker.test")
    return client


def letter(tag: str, sender: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\n{extra}To: colleague\r\nSubject: {tag}\r\n"
        f"Message-ID: <{tag}@x.test>\r\n\r\npay the invoice {tag}\r\n"
    ).encode()


def anywhere(mta, address: str, tag: str) -> int:
    """Copies of ``tag`` in any mailbox of ``address``."""
    slug = {"acme.test": "acme", "globex.test": "globex", "tiny.test": "tiny"}[address.rpartition("@")[2]]
    conn = mta.tenant_db(slug)
    try:
        boxes = [r[0] for r in conn.execute(
            "SELECT x.name FROM mailboxes x JOIN users u ON u.id = x.user_id WHERE u.address = ?", (address,))]
        return sum(1 for box in boxes for m in stored_messages(conn, address, box) if tag.encode() in m)
    finally:
        conn.close()


@pytest.fixture(scope="module", autouse=True)
def records(stub_dns):
    """quarantine.test: SPF forbids loopback, p=quarantine. twice.test: SPF
    forbids loopback and two DMARC records (one says reject)."""
    stub_dns.add_txt("quarantine.test", "v=spf1 ip4:192.0.2.1 -all")
    stub_dns.add_txt("_dmarc.quarantine.test", "v=DMARC1; p=quarantine")
    stub_dns.add_txt("twice.test", "v=spf1 ip4:192.0.2.1 -all")
    stub_dns.add_txt("_dmarc.twice.test", "v=DMARC1; p=reject")
    stub_dns.add_txt("_dmarc.twice.test", "v=DMARC1; p=none")


# -- the envelope sender claims a hosted domain --------------------------------


@pytest.mark.parametrize("rcpt", ["bob@acme.test", "carol@globex.test"], ids=["same-business", "other-business"])
def test_hosted_envelope_sender_from_outside_is_refused_at_rcpt(mta, rcpt):
    """MAIL FROM:<alice@acme.test> from a client acme.test's SPF does not
    allow gets 550 5.7.1 at RCPT (to a colleague or another business here),
    and nothing is stored."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        assert client.mail("alice@acme.test")[0] == 250
        code, text = client.rcpt(rcpt)
        assert (code, text[:5]) == (550, b"5.7.1"), text
        assert client.docmd("DATA")[0] == 503  # no recipient was accepted
    assert anywhere(mta, rcpt, tag) == 0


def test_hosted_envelope_sender_from_the_box_is_accepted(mta):
    """The same message from 127.0.0.1 (the address acme.test's SPF names) is delivered."""
    tag = uuid.uuid4().hex
    with mx(mta, source="127.0.0.1") as client:
        client.sendmail("alice@acme.test", ["bob@acme.test"], letter(tag, "alice@acme.test"))
    assert anywhere(mta, "bob@acme.test", tag) == 1


def test_suspended_business_address_from_outside_is_refused(mta):
    """A suspended business's address as envelope sender, from outside: 550 5.7.1, nothing stored."""
    mta.cli("tenant", "add", "dormant", "--domain", "dormant.test")
    mta.cli("user", "add", "dan@dormant.test", "--password-stdin", input=PASSWORD + "\n")
    mta.cli("tenant", "suspend", "dormant")
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.mail("dan@dormant.test")
        code, text = client.rcpt("bob@acme.test")
    assert (code, text[:5]) == (550, b"5.7.1"), text
    assert anywhere(mta, "bob@acme.test", tag) == 0


# -- the From: header claims a hosted domain ------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        "From: Alice <alice@acme.test>\r\n",
        "From: news@example.org\r\nFrom: alice@acme.test\r\n",
        "From : alice@acme.test\r\n",
        "From: news@example.org, alice@acme.test\r\n",
        "From: =?utf-8?q?Alice?= <ALICE@ACME.TEST>\r\n",
    ],
    ids=["plain", "second-from", "space-before-colon", "two-mailboxes", "upper-case"],
)
def test_outside_envelope_with_a_hosted_from_is_refused_at_data(mta, head):
    """An outside envelope (news@example.org) with a From: naming acme.test,
    in any spelling a client may show, from a client acme.test's SPF does not
    allow: 550 5.7.1 after DATA and nothing stored."""
    tag = uuid.uuid4().hex
    data = f"{head}To: bob@acme.test\r\nSubject: {tag}\r\n\r\nurgent {tag}\r\n".encode()
    with mx(mta) as client:
        client.mail("news@example.org")
        assert client.rcpt("bob@acme.test")[0] == 250
        code, text = client.data(data)
    assert (code, text[:5]) == (550, b"5.7.1"), text
    assert anywhere(mta, "bob@acme.test", tag) == 0


def test_display_name_with_a_hosted_address_is_not_refused(mta):
    """A quoted display name that mentions a hosted address is not a claim: delivered."""
    tag = uuid.uuid4().hex
    data = letter(tag, '"alice@acme.test via Forms" <forms@example.org>')
    with mx(mta) as client:
        client.sendmail("forms@example.org", ["bob@acme.test"], data)
    assert anywhere(mta, "bob@acme.test", tag) == 1


def test_message_signed_here_and_relayed_unchanged_is_accepted(mta):
    """A message alice sent out (DKIM-signed with acme.test's key) that comes
    back unchanged from an outside list server is delivered: the signature
    verifies against the key in our own zone."""
    tag = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", mta.port("submission"), timeout=20) as client:
        client.starttls(context=tls_client_context())
        client.login("alice@acme.test", PASSWORD)
        client.sendmail("alice@acme.test", ["list@remote.test"], letter(tag, "alice@acme.test"))
    sent = wait_for(lambda: next((m for m in mta.remote.messages if tag.encode() in m.data), None), timeout=30)
    assert b"DKIM-Signature:" in sent.data
    with mx(mta) as client:
        client.sendmail("list-bounces@remote.test", ["bob@acme.test"], sent.data)
    assert anywhere(mta, "bob@acme.test", tag) == 1


# -- DMARC policies of other domains ----------------------------------------------


def test_dmarc_quarantine_failure_goes_to_junk(mta):
    """From a p=quarantine domain, failing SPF and unsigned: delivered to Junk, not INBOX."""
    tag = uuid.uuid4().hex
    with mx(mta, source="127.0.0.1") as client:
        client.sendmail("billing@quarantine.test", ["alice@acme.test"], letter(tag, "billing@quarantine.test"))
    conn = mta.tenant_db("acme")
    try:
        junk = [m for m in stored_messages(conn, "alice@acme.test", "Junk") if tag.encode() in m]
        inbox = [m for m in stored_messages(conn, "alice@acme.test") if tag.encode() in m]
    finally:
        conn.close()
    assert (len(junk), len(inbox)) == (1, 0)
    assert b"dmarc=fail (p=quarantine)" in junk[0]


def test_several_dmarc_records_apply_no_policy(mta):
    """Two v=DMARC1 records (one p=reject): no policy applies (RFC 7489 6.6.3),
    the failing message is delivered to INBOX with dmarc=none."""
    tag = uuid.uuid4().hex
    with mx(mta, source="127.0.0.1") as client:
        client.mail("ceo@twice.test")
        client.rcpt("alice@acme.test")
        code, text = client.data(letter(tag, "ceo@twice.test"))
    assert code == 250, text
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    assert b"dmarc=none header.from=twice.test" in stored


# -- postmaster -------------------------------------------------------------------


@pytest.mark.parametrize(
    "domain, owner",
    [("acme.test", "alice@acme.test"), ("tiny.test", "tim@tiny.test"), ("globex.test", "carol@globex.test")],
)
def test_postmaster_of_every_hosted_domain_reaches_the_owner(mta, domain, owner):
    """postmaster@<domain> is accepted (RFC 5321 4.5.1) and lands with the
    business's first user (globex's through its catch-all)."""
    tag = uuid.uuid4().hex
    with mx(mta, source="127.0.0.1") as client:
        client.mail("reporter@example.org")
        code, text = client.rcpt(f"PostMaster@{domain}")
        assert code == 250, text
        assert client.data(letter(tag, "reporter@example.org"))[0] == 250
    assert anywhere(mta, owner, tag) == 1


def test_postmaster_of_a_free_domain_is_accepted(mta):
    """postmaster@acme.appliance.test (the free domain) is accepted too."""
    with mx(mta, source="127.0.0.1") as client:
        client.mail("reporter@example.org")
        assert client.rcpt("postmaster@acme.appliance.test")[0] == 250


# -- the box keeps answering while the attack runs --------------------------------


def test_dns_and_smtp_banner_answer_while_spoofing_runs(mta):
    """While four clients send spoofed hosted-domain mail as fast as they
    can, a DNS query and an SMTP banner on other connections each answer
    within 100 ms (median of several probes: robust on a loaded machine,
    still far below what a frozen loop gives)."""
    refused = []

    def attack() -> None:
        # Fewer refusals per session than [smtp] max_errors (10).
        with mx(mta) as client:
            for _ in range(5):
                client.mail("alice@acme.test")
                refused.append(client.rcpt("bob@acme.test")[0])
                client.rset()

    dns, banner = liveness.probes_during(attack, mta.port("dns"), mta.port("smtp"), dns_name="acme.test", join=10)
    assert refused and set(refused) == {550}
    assert statistics.median(dns) < 0.1, dns
    assert statistics.median(banner) < 0.1, banner
