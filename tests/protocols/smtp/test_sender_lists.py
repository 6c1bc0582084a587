"""Allow and block lists of senders on the MX (``appliance.senderlists``),
on a daemon with greylisting and a DNS blocklist on: a blocked envelope
sender is refused at RCPT with 550 5.7.1 for the business or only for the
user who blocked it; an allowed one skips greylisting and the blocklist;
authenticated submission by the business's own people is never blocked.
Entries are added with the CLI while the daemon runs, as an operator would."""

from __future__ import annotations

import smtplib
import uuid

import pytest

from .conftest import PASSWORD, Mta, provision, tls_client_context
from .test_dnsbl import BlocklistDNS

#: Exempt from greylisting and listed nowhere: the block tests' client.
PLAIN_IP = "127.0.0.5"
LISTED_IP = "127.0.0.2"
BLOCKED = "550 5.7.1 The recipient does not accept mail from this sender"


@pytest.fixture(scope="module")
def mta(tmp_path_factory, stub_dns):
    blocklist = BlocklistDNS({"2.0.0.127.bl.test": "127.0.0.2"}, silent=())
    extra = f"""
[greylist]
enabled = true
delay = 60
exempt_networks = ["{PLAIN_IP}/32"]

[dnsbl]
zones = ["bl.test"]
resolver = "127.0.0.1:{blocklist.port}"
timeout = 1
exempt_networks = ["{PLAIN_IP}/32"]
"""
    m = Mta(tmp_path_factory.mktemp("senderlists"), stub_dns, extra)
    m.remote.start()  # bound before provisioning: no other process takes its port meanwhile
    provision(m)
    m.daemon.start()
    yield m
    m.daemon.stop()
    m.remote.stop()
    blocklist.close()


def _rcpts(mta, sender: str, rcpts: list[str], source: str = PLAIN_IP) -> list[str]:
    """MAIL and one RCPT per recipient over the MX; each RCPT's whole reply."""
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10, source_address=(source, 0)) as client:
        client.ehlo("mx.remote.test")
        client.mail(sender)
        out = []
        for rcpt in rcpts:
            code, text = client.rcpt(rcpt)
            out.append(f"{code} {text.decode()}")
        return out


def _unique(domain: str = "remote.test") -> str:
    return f"s-{uuid.uuid4().hex[:8]}@{domain}"


def test_an_address_the_business_blocks_is_refused_for_every_user(mta):
    """acme blocks one address: RCPT to alice, bob and the sales alias get
    550 5.7.1; globex's carol still gets mail from it."""
    sender = _unique()
    mta.cli("senders", "add", "acme", "--block", sender.upper())
    replies = _rcpts(mta, sender, ["alice@acme.test", "bob@acme.test", "sales@acme.test", "carol@globex.test"])
    assert replies[:3] == [BLOCKED] * 3
    assert replies[3].startswith("250 ")
    assert _rcpts(mta, _unique(), ["alice@acme.test"])[0].startswith("250 ")


def test_a_user_block_refuses_only_that_recipient(mta):
    """bob blocks a sender: bob's RCPT is refused, alice's in the same
    transaction accepted, and the message reaches alice only."""
    sender = _unique()
    mta.cli("senders", "add", "acme", "--user", "bob@acme.test", "--block", sender)
    tag = uuid.uuid4().hex
    message = f"From: {sender}\r\nTo: alice@acme.test, bob@acme.test\r\nSubject: offer\r\nMessage-ID: <{tag}@remote.test>\r\n\r\nbuy\r\n"
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10, source_address=(PLAIN_IP, 0)) as client:
        client.ehlo("mx.remote.test")
        refused = client.sendmail(sender, ["alice@acme.test", "bob@acme.test"], message.encode())
    assert refused == {"bob@acme.test": (550, BLOCKED[4:].encode())}
    assert any(tag.encode() in m for m in mta.inbox("alice@acme.test"))
    assert not any(tag.encode() in m for m in mta.inbox("bob@acme.test"))


def test_a_blocked_domain_covers_its_subdomains(mta):
    """acme blocks spam-domain.test: senders at it and at mail.spam-domain.test
    are refused; one at notspam-domain.test is not."""
    mta.cli("senders", "add", "acme", "--block", "spam-domain.test")
    assert _rcpts(mta, _unique("spam-domain.test"), ["alice@acme.test"]) == [BLOCKED]
    assert _rcpts(mta, _unique("Mail.Spam-Domain.test"), ["alice@acme.test"]) == [BLOCKED]
    assert _rcpts(mta, _unique("notspam-domain.test"), ["alice@acme.test"])[0].startswith("250 ")


def test_a_user_allow_overrides_the_business_block(mta):
    """The business blocks a domain, alice allows one address in it: alice
    gets it (without waiting), bob does not."""
    mta.cli("senders", "add", "acme", "--block", "mixed.test")
    sender = _unique("mixed.test")
    mta.cli("senders", "add", "acme", "--user", "alice@acme.test", "--allow", sender)
    replies = _rcpts(mta, sender, ["alice@acme.test", "bob@acme.test"], source="127.0.0.1")
    assert replies[0].startswith("250 ") and replies[1] == BLOCKED


def test_an_allowed_sender_skips_greylisting(mta):
    """From a greylisted client, an unknown sender waits (451); one the
    business allows is accepted on its first try, and the message stored."""
    assert _rcpts(mta, _unique(), ["alice@acme.test"], source="127.0.0.1")[0].startswith("451 4.7.1 Greylisted")
    sender = _unique()
    mta.cli("senders", "add", "acme", "--allow", sender)
    tag = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.ehlo("mx.remote.test")
        client.sendmail(sender, ["alice@acme.test"],
                        f"From: {sender}\r\nSubject: hi\r\nMessage-ID: <{tag}@remote.test>\r\n\r\nhi\r\n".encode())
    assert any(tag.encode() in m for m in mta.inbox("alice@acme.test"))


def test_an_allowed_sender_from_a_blocklisted_client_is_accepted(mta):
    """127.0.0.2 is on bl.test: refused with 554 for a sender nobody
    allowed, accepted for one bob allowed (domain entry) - for bob only."""
    assert _rcpts(mta, _unique(), ["bob@acme.test"], source=LISTED_IP)[0].startswith("554 5.7.1 Client host")
    mta.cli("senders", "add", "acme", "--user", "bob@acme.test", "--allow", "friend.test")
    replies = _rcpts(mta, _unique("friend.test"), ["bob@acme.test", "alice@acme.test"], source=LISTED_IP)
    assert replies[0].startswith("250 ") and replies[1].startswith("554 5.7.1 Client host")


def test_authenticated_submission_is_never_blocked(mta):
    """acme blocks its own domain and bob's address: bob still submits to
    alice on the submission port and she gets it."""
    mta.cli("senders", "add", "acme", "--block", "acme.test")
    mta.cli("senders", "add", "acme", "--user", "alice@acme.test", "--block", "bob@acme.test")
    try:
        tag = uuid.uuid4().hex
        message = f"From: bob@acme.test\r\nTo: alice@acme.test\r\nSubject: lunch\r\nMessage-ID: <{tag}@acme.test>\r\n\r\nnoon\r\n"
        with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
            client.login("bob@acme.test", PASSWORD)
            client.sendmail("bob@acme.test", ["alice@acme.test"], message.encode())
        assert any(tag.encode() in m for m in mta.inbox("alice@acme.test"))
    finally:
        mta.cli("senders", "remove", "acme", "--block", "acme.test")
        mta.cli("senders", "remove", "acme", "--user", "alice@acme.test", "--block", "bob@acme.test")


def test_the_null_sender_is_never_blocked(mta):
    """A bounce (MAIL FROM:<>) matches no entry, even with the whole remote domain blocked."""
    mta.cli("senders", "add", "acme", "--block", "remote.test")
    try:
        assert _rcpts(mta, "<>", ["alice@acme.test"])[0].startswith("250 ")
    finally:
        mta.cli("senders", "remove", "acme", "--block", "remote.test")
