"""Greylisting on the MX (RFC 6647), on a daemon with ``[greylist]`` on and
a two-second delay (the tests' clock): an unknown triplet is deferred at
RCPT with 451 4.7.1, its retry after the delay is accepted and the triplet
then stays allowed; submission, hosted senders, exempt networks and
addresses our users wrote to are never delayed."""

from __future__ import annotations

import smtplib
import time
import uuid

import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD, Mta, provision, scrape, tls_client_context

DELAY = 2
#: Loopback has a whole /8: a client bound to 127.0.0.2 stands for a partner's network.
EXEMPT_IP = "127.0.0.2"
GREYLIST = f"""
[greylist]
enabled = true
delay = {DELAY}
exempt_networks = ["{EXEMPT_IP}/32"]
"""


@pytest.fixture(scope="module")
def mta(tmp_path_factory, stub_dns):
    m = Mta(tmp_path_factory.mktemp("greylist"), stub_dns, GREYLIST)
    m.remote.start()  # bound before provisioning: no other process takes its port meanwhile
    provision(m)
    m.daemon.start()
    yield m
    m.daemon.stop()
    m.remote.stop()


def _rcpt(mta, sender: str, rcpt: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
    """MAIL and RCPT over the MX from ``source``; the RCPT reply."""
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10, source_address=(source, 0)) as client:
        client.ehlo("mx.remote.test")
        client.mail(sender)
        return client.rcpt(rcpt)


def _send(mta, sender: str, rcpt: str, tag: str, source: str = "127.0.0.1") -> None:
    message = f"From: {sender}\r\nTo: {rcpt}\r\nSubject: hello\r\nMessage-ID: <{tag}@remote.test>\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10, source_address=(source, 0)) as client:
        client.ehlo("mx.remote.test")
        client.sendmail(sender, [rcpt], message.encode())


def _has(mta, address: str, tag: str) -> bool:
    return any(tag.encode() in m for m in mta.inbox(address))


def test_an_unknown_triplet_waits_and_its_retry_after_the_delay_is_accepted(mta):
    """First RCPT: 451 4.7.1 naming the delay; a retry within it: 451 again;
    after it: 250 and the message is stored; the next message of the same
    triplet goes through at once."""
    sender = f"news-{uuid.uuid4().hex[:6]}@remote.test"
    code, text = _rcpt(mta, sender, "alice@acme.test")
    assert code == 451 and text.startswith(b"4.7.1 Greylisted, please try again in ")
    assert _rcpt(mta, sender, "alice@acme.test")[0] == 451
    time.sleep(DELAY + 0.2)
    tag = uuid.uuid4().hex
    _send(mta, sender, "alice@acme.test", tag)
    assert _has(mta, "alice@acme.test", tag)
    assert _rcpt(mta, sender, "alice@acme.test")[0] == 250


def test_deferred_and_passed_rcpts_are_counted_in_the_metrics(mta):
    """A first try and the retry after the delay (a whole message delivered) count one deferred and one passed;
    a message from an exempt network counts nothing."""
    deferred = scrape(mta, "appliance_greylist_total", result="deferred")
    passed = scrape(mta, "appliance_greylist_total", result="passed")
    sender = f"counted-{uuid.uuid4().hex[:6]}@remote.test"
    assert _rcpt(mta, sender, "alice@acme.test")[0] == 451
    time.sleep(DELAY + 0.2)
    tag = uuid.uuid4().hex
    _send(mta, sender, "alice@acme.test", tag)
    assert _has(mta, "alice@acme.test", tag)
    assert scrape(mta, "appliance_greylist_total", result="deferred") == deferred + 1
    assert scrape(mta, "appliance_greylist_total", result="passed") == passed + 1
    # An exempt client is not greylisted at all: nothing counted.
    _send(mta, f"partner-{tag[:6]}@remote.test", "alice@acme.test", tag + "x", source=EXEMPT_IP)
    assert _has(mta, "alice@acme.test", tag + "x")
    assert scrape(mta, "appliance_greylist_total", result="passed") == passed + 1


def test_the_same_sender_to_another_recipient_is_a_new_triplet(mta):
    """Allowed for alice is not allowed for bob: his first RCPT waits."""
    sender = f"news-{uuid.uuid4().hex[:6]}@remote.test"
    _rcpt(mta, sender, "alice@acme.test")
    time.sleep(DELAY + 0.2)
    assert _rcpt(mta, sender, "alice@acme.test")[0] == 250
    assert _rcpt(mta, sender, "bob@acme.test")[0] == 451


def test_an_exempt_network_is_never_delayed(mta):
    """A client in exempt_networks gets 250 on its first try."""
    tag = uuid.uuid4().hex
    _send(mta, f"partner-{tag[:6]}@remote.test", "alice@acme.test", tag, source=EXEMPT_IP)
    assert _has(mta, "alice@acme.test", tag)


def test_a_sender_of_a_hosted_domain_that_passed_spf_is_not_delayed(mta):
    """bob@acme.test from the box's own address (allowed by acme's SPF) to
    carol@globex.test over the MX: accepted at once."""
    assert _rcpt(mta, "bob@acme.test", "carol@globex.test")[0] == 250


def test_authenticated_submission_is_never_greylisted(mta):
    """bob submits to alice on the submission port: delivered at once."""
    tag = uuid.uuid4().hex
    message = f"From: bob@acme.test\r\nTo: alice@acme.test\r\nSubject: lunch\r\nMessage-ID: <{tag}@acme.test>\r\n\r\nnoon\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("bob@acme.test", PASSWORD)
        client.sendmail("bob@acme.test", ["alice@acme.test"], message.encode())
    assert _has(mta, "alice@acme.test", tag)


def test_an_address_our_user_wrote_to_is_not_delayed(mta):
    """After bob writes to a new remote address, its answer over the MX is accepted on the first try."""
    friend = f"friend-{uuid.uuid4().hex[:6]}@remote.test"
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("bob@acme.test", PASSWORD)
        client.sendmail("bob@acme.test", [friend], b"From: bob@acme.test\r\nTo: " + friend.encode() + b"\r\nSubject: hi\r\n\r\nhi\r\n")
    wait_for(lambda: any(friend in m.rcpt_tos for m in mta.remote.messages))
    assert _rcpt(mta, friend, "bob@acme.test")[0] == 250
